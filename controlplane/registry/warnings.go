package registry

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Warnings returns one message for each field of obj that Shoal stores but
// does not act on, for the API server to send as Warning headers. A client
// that asks for a load balancer or a volume gets an object that looks
// right, so it must be told, the way Kubernetes tells of deprecated fields,
// that nothing will happen. Only fields that are set are reported, so a
// defaulted object gets no more warnings than the one the client sent.
func Warnings(obj runtime.Object) []string {
	var w warnings
	switch o := obj.(type) {
	case *corev1.Pod:
		w.podSpec(&o.Spec, field.NewPath("spec"))
	case *corev1.Service:
		w.service(&o.Spec, field.NewPath("spec"))
	case *appsv1.Deployment:
		w.podSpec(&o.Spec.Template.Spec, field.NewPath("spec", "template", "spec"))
	case *appsv1.ReplicaSet:
		w.podSpec(&o.Spec.Template.Spec, field.NewPath("spec", "template", "spec"))
	case *batchv1.Job:
		w.podSpec(&o.Spec.Template.Spec, field.NewPath("spec", "template", "spec"))
	case *batchv1.CronJob:
		w.podSpec(&o.Spec.JobTemplate.Spec.Template.Spec, field.NewPath("spec", "jobTemplate", "spec", "template", "spec"))
	}
	return w
}

type warnings []string

// add records a warning for the field at path, formatted as Kubernetes
// formats its own: "spec.foo[0].bar: message".
func (w *warnings) add(path *field.Path, format string, args ...any) {
	*w = append(*w, path.String()+": "+fmt.Sprintf(format, args...))
}

func (w *warnings) service(spec *corev1.ServiceSpec, path *field.Path) {
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		w.add(path.Child("type"), "Shoal has no load-balancer provider; the LoadBalancer service gets no external address and is reachable through its cluster IP only")
	case corev1.ServiceTypeNodePort:
		w.add(path.Child("type"), "Shoal does not open node ports; the NodePort service is reachable through its cluster IP only")
	}
	for i, p := range spec.Ports {
		if p.NodePort != 0 {
			w.add(path.Child("ports").Index(i).Child("nodePort"), "Shoal does not open node ports; the node port %d is kept but not opened", p.NodePort)
		}
	}
	if len(spec.ExternalIPs) > 0 {
		w.add(path.Child("externalIPs"), "Shoal does not route external IPs; %s kept but not routed", listIs(quoteEach(spec.ExternalIPs)))
	}
	if spec.LoadBalancerIP != "" {
		w.add(path.Child("loadBalancerIP"), "Shoal has no load-balancer provider; the address %q is kept but not assigned", spec.LoadBalancerIP)
	}
	if len(spec.LoadBalancerSourceRanges) > 0 {
		w.add(path.Child("loadBalancerSourceRanges"), "Shoal has no load-balancer provider; %s kept but not enforced", listIs(quoteEach(spec.LoadBalancerSourceRanges)))
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		w.add(path.Child("sessionAffinity"), "Shoal does not pin clients to endpoints; ClientIP is kept but connections are balanced as with None")
	}
	if spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		w.add(path.Child("externalTrafficPolicy"), "Shoal does not accept traffic from outside the cluster; Local is kept but has no effect")
	}
}

func (w *warnings) podSpec(spec *corev1.PodSpec, path *field.Path) {
	for i, v := range spec.Volumes {
		if kind := unsupportedVolume(&v.VolumeSource); kind != "" {
			w.add(path.Child("volumes").Index(i), "Shoal's node agent does not provide %s volumes; a pod with the volume %q will not start", kind, v.Name)
		}
	}
	for i := range spec.InitContainers {
		w.container(&spec.InitContainers[i], path.Child("initContainers").Index(i))
	}
	for i := range spec.Containers {
		w.container(&spec.Containers[i], path.Child("containers").Index(i))
	}
	if fields := podSecurityFields(spec.SecurityContext); len(fields) > 0 {
		w.add(path.Child("securityContext"), "Shoal does not apply %s; kept but not enforced", strings.Join(fields, ", "))
	}
	// The scheduler honours nodeSelector, tolerations and required node
	// affinity; the rest of affinity and spreading it does not weigh.
	if a := spec.Affinity; a != nil {
		ap := path.Child("affinity")
		if a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
			w.add(ap.Child("nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"), "Shoal's scheduler does not weigh preferred node affinity; it is kept but has no effect")
		}
		if a.PodAffinity != nil {
			w.add(ap.Child("podAffinity"), "Shoal's scheduler does not consider pod affinity; it is kept but not enforced")
		}
		if a.PodAntiAffinity != nil {
			w.add(ap.Child("podAntiAffinity"), "Shoal's scheduler does not consider pod anti-affinity; it is kept but not enforced")
		}
	}
	if len(spec.TopologySpreadConstraints) > 0 {
		w.add(path.Child("topologySpreadConstraints"), "Shoal's scheduler spreads by load, not by topology; the constraints are kept but not enforced")
	}
}

func (w *warnings) container(c *corev1.Container, path *field.Path) {
	if fields := securityFields(c.SecurityContext); len(fields) > 0 {
		w.add(path.Child("securityContext"), "Shoal does not apply %s; kept but not enforced", strings.Join(fields, ", "))
	}
}

// unsupportedVolume names the kind of a volume the node agent cannot
// provide, "" for those it does (emptyDir, hostPath, configMap, secret,
// downwardAPI, projected).
func unsupportedVolume(src *corev1.VolumeSource) string {
	switch {
	case src.EmptyDir != nil, src.HostPath != nil, src.ConfigMap != nil, src.Secret != nil,
		src.DownwardAPI != nil, src.Projected != nil:
		return ""
	case src.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim"
	case src.NFS != nil:
		return "nfs"
	case src.Ephemeral != nil:
		return "ephemeral"
	case src.CSI != nil:
		return "csi"
	case src.Image != nil:
		return "image"
	}
	return "such"
}

// setField pairs a field's JSON name with whether it is set.
type setField struct {
	name string
	set  bool
}

func setNames(fields ...setField) []string {
	var names []string
	for _, f := range fields {
		if f.set {
			names = append(names, f.name)
		}
	}
	return names
}

// podSecurityFields names the fields set in sc that the node agent does
// not apply. SetDefaults leaves an empty one on every pod, which asks for
// nothing.
func podSecurityFields(sc *corev1.PodSecurityContext) []string {
	if sc == nil {
		return nil
	}
	return setNames(
		setField{"seLinuxOptions", sc.SELinuxOptions != nil},
		setField{"windowsOptions", sc.WindowsOptions != nil},
		setField{"supplementalGroupsPolicy", sc.SupplementalGroupsPolicy != nil},
		setField{"fsGroupChangePolicy", sc.FSGroupChangePolicy != nil},
		setField{"seccompProfile", sc.SeccompProfile != nil},
		setField{"appArmorProfile", sc.AppArmorProfile != nil},
		setField{"seLinuxChangePolicy", sc.SELinuxChangePolicy != nil},
	)
}

// securityFields names the fields set in a container's sc that the node
// agent does not apply.
func securityFields(sc *corev1.SecurityContext) []string {
	if sc == nil {
		return nil
	}
	return setNames(
		setField{"seLinuxOptions", sc.SELinuxOptions != nil},
		setField{"windowsOptions", sc.WindowsOptions != nil},
		setField{"seccompProfile", sc.SeccompProfile != nil},
		setField{"appArmorProfile", sc.AppArmorProfile != nil},
	)
}

func quoteEach(values []string) []string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return quoted
}

// listIs joins items for a warning, with the verb to follow: "a is" or
// "a, b are".
func listIs(items []string) string {
	if len(items) == 1 {
		return items[0] + " is"
	}
	return strings.Join(items, ", ") + " are"
}

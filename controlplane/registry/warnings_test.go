package registry

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
		// want are the warnings' field paths, in order.
		want []string
	}{
		{"plain pod", validPod(), nil},
		{"plain service", validService(), nil},
		{"pod", with(validPod(), func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, // provided
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "d"}}},
			}
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Command: []string{"/srv/migrate"}, // run
				SecurityContext: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}}}
			c := &p.Spec.Containers[0]
			c.Image = "nginx" // pulled
			c.VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
			c.SecurityContext = &corev1.SecurityContext{Privileged: new(true), ReadOnlyRootFilesystem: new(true)} // applied
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: new(int64(1000)), SELinuxOptions: &corev1.SELinuxOptions{Level: "s0"}}
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}} // used
			p.Spec.ServiceAccountName = "web"                                          // honoured: no warning
			mountToken(&p.Spec)                                                        // admission's volume: no warning
			p.Spec.Affinity = &corev1.Affinity{
				NodeAffinity:    &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}, // enforced
				PodAntiAffinity: &corev1.PodAntiAffinity{},
			}
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}} // enforced
		}), []string{
			"spec.volumes[1]",
			"spec.initContainers[0].securityContext",
			"spec.securityContext",
			"spec.affinity.podAntiAffinity",
		}},
		{"deployment template", with(validDeployment(), func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.27"
			d.Spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
		}), []string{"spec.template.spec.securityContext"}},
		{"replica set template", with(validReplicaSet(), func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone"}}
		}), []string{"spec.template.spec.topologySpreadConstraints"}},
		{"load balancer", with(validService(), func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.Ports[0].NodePort = 30080
			s.Spec.LoadBalancerIP = "192.0.2.10"
			s.Spec.LoadBalancerSourceRanges = []string{"192.0.2.0/24"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}), []string{"spec.type", "spec.ports[0].nodePort", "spec.loadBalancerIP", "spec.loadBalancerSourceRanges", "spec.externalTrafficPolicy"}},
		{"node port", with(validService(), func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalIPs = []string{"192.0.2.10"}
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		}), []string{"spec.type", "spec.externalIPs", "spec.sessionAffinity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Defaulting fills fields with values Shoal does honour, so it
			// must not add warnings.
			SetDefaults(tt.obj)
			var got []string
			for _, w := range Warnings(tt.obj) {
				path, _, ok := strings.Cut(w, ": ")
				if !ok {
					t.Errorf("warning %q does not start with a field path", w)
				}
				got = append(got, path)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warned about\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestWarningText(t *testing.T) {
	pod := validPod()
	pod.Spec.Containers[0].Image = "nginx"
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: new(true), RunAsUser: new(int64(0)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}, AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}}}}
	want := []string{
		`spec.volumes[0]: Shoal's node agent does not provide nfs volumes; a pod with the volume "data" will not start`,
		`spec.containers[0].securityContext: Shoal does not apply seccompProfile, appArmorProfile; kept but not enforced`,
	}
	if got := Warnings(pod); !slices.Equal(got, want) {
		t.Errorf("Warnings =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}

	svc := validService()
	svc.Spec.ExternalIPs = []string{"192.0.2.10", "192.0.2.11"}
	want = []string{`spec.externalIPs: Shoal does not route external IPs; "192.0.2.10", "192.0.2.11" are kept but not routed`}
	if got := Warnings(svc); !slices.Equal(got, want) {
		t.Errorf("Warnings = %q, want %q", got, want)
	}
}

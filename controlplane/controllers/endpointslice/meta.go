package endpointslice

import (
	"maps"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/controllers/endpoint"
)

// What identifies slices, endpoints and port sets, and what a slice of a
// service carries besides its endpoints.

// endpointKey is an endpoint's identity, as Kubernetes hashes it:
// addresses, hostname and the pod it points at. Conditions and the rest
// may change in place.
func endpointKey(ep *discoveryv1.Endpoint) string {
	addrs := append([]string(nil), ep.Addresses...)
	sort.Strings(addrs)
	var b strings.Builder
	b.WriteString(strings.Join(addrs, ","))
	b.WriteByte('|')
	if ep.Hostname != nil {
		b.WriteString(*ep.Hostname)
	}
	b.WriteByte('|')
	if ep.TargetRef != nil {
		b.WriteString(ep.TargetRef.Namespace + "/" + ep.TargetRef.Name)
	}
	return b.String()
}

// endpointEqual compares what endpointKey leaves out, ignoring the
// resourceVersion of the target, which changes with every pod write.
func endpointEqual(a, b *discoveryv1.Endpoint) bool {
	if !ptrEqual(a.NodeName, b.NodeName) || !ptrEqual(a.Zone, b.Zone) ||
		!ptrEqual(a.Conditions.Ready, b.Conditions.Ready) ||
		!ptrEqual(a.Conditions.Serving, b.Conditions.Serving) ||
		!ptrEqual(a.Conditions.Terminating, b.Conditions.Terminating) {
		return false
	}
	if (a.TargetRef == nil) != (b.TargetRef == nil) {
		return false
	}
	if a.TargetRef != nil {
		ra, rb := *a.TargetRef, *b.TargetRef
		ra.ResourceVersion, rb.ResourceVersion = "", ""
		if ra != rb {
			return false
		}
	}
	return apiequality.Semantic.DeepEqual(a.Hints, b.Hints) &&
		apiequality.Semantic.DeepEqual(a.DeprecatedTopology, b.DeprecatedTopology)
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// portsKey identifies a port set regardless of order; an unset name or
// protocol counts as its default.
func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		name, proto, num, app := "", string(corev1.ProtocolTCP), "-", ""
		if p.Name != nil {
			name = *p.Name
		}
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		if p.Port != nil {
			num = strconv.Itoa(int(*p.Port))
		}
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		parts[i] = name + "/" + proto + "/" + num + "/" + app
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func copyPorts(ports []discoveryv1.EndpointPort) []discoveryv1.EndpointPort {
	out := make([]discoveryv1.EndpointPort, len(ports))
	for i := range ports {
		ports[i].DeepCopyInto(&out[i])
	}
	return out
}

// sliceLabels are the labels of svc's slices: the service's own, but for
// the reserved ones, plus the service name, the manager and, for a headless
// service, the headless marker.
func sliceLabels(svc *corev1.Service) map[string]string {
	out := make(map[string]string, len(svc.Labels)+3)
	for k, v := range svc.Labels {
		switch k {
		case discoveryv1.LabelServiceName, discoveryv1.LabelManagedBy, corev1.IsHeadlessService:
			continue
		}
		out[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		out[corev1.IsHeadlessService] = ""
	}
	out[discoveryv1.LabelServiceName] = svc.Name
	out[discoveryv1.LabelManagedBy] = sliceManagedBy
	return out
}

// newSlice is a slice of svc to be created, named by the API from the
// service's name.
func newSlice(svc *corev1.Service, labels map[string]string, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       svc.Namespace,
			GenerateName:    svc.Name + "-",
			Labels:          maps.Clone(labels),
			OwnerReferences: []metav1.OwnerReference{serviceOwnerRef(svc)},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
		Endpoints:   []discoveryv1.Endpoint{},
	}
}

func serviceOwnerRef(svc *corev1.Service) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
		Controller: new(true), BlockOwnerDeletion: new(true)}
}

func sliceOwnedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}

// isPlaceholder reports whether s is the placeholder ph would be.
func isPlaceholder(s, ph *discoveryv1.EndpointSlice) bool {
	if len(s.Endpoints) != 0 || len(s.Ports) != 0 || s.AddressType != ph.AddressType ||
		!maps.Equal(s.Labels, ph.Labels) || len(s.OwnerReferences) != len(ph.OwnerReferences) {
		return false
	}
	for i := range s.OwnerReferences {
		if s.OwnerReferences[i].String() != ph.OwnerReferences[i].String() {
			return false
		}
	}
	return true
}

// slicePorts are the service's ports as resolved on pod; a port the pod
// does not have is left out, so such a pod lands in a slice of its own
// port set.
func slicePorts(svc *corev1.Service, p *corev1.Pod) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		num, ok := endpoint.FindPort(p, sp)
		if !ok {
			continue
		}
		out = append(out, discoveryv1.EndpointPort{
			Name: new(sp.Name), Port: new(num), Protocol: new(sp.Protocol), AppProtocol: sp.AppProtocol,
		})
	}
	return out
}

// sliceEndpoint is the slice endpoint of a pod for svc.
func sliceEndpoint(p *corev1.Pod, svc *corev1.Service) discoveryv1.Endpoint {
	serving := endpoint.PodReady(p)
	terminating := p.DeletionTimestamp != nil
	// A terminating pod is never ready, unless the service asks for every
	// address to be published.
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  []string{endpoint.PodIPv4(p)},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
	}
	if p.Spec.NodeName != "" {
		ep.NodeName = new(p.Spec.NodeName)
	}
	if h := endpoint.Hostname(p, svc); h != "" {
		ep.Hostname = new(h)
	}
	return ep
}

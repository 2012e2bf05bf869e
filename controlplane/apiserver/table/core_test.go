package table

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func clusterIPService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(5 * time.Minute), Labels: map[string]string{"app": "web"}},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  "10.96.12.34",
			ClusterIPs: []string{"10.96.12.34"},
			Selector:   map[string]string{"tier": "frontend", "app": "web"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)},
				{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8443)},
			},
		},
	}
}

func service(name string, spec corev1.ServiceSpec) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(time.Hour)}, Spec: spec}
}

func TestServiceRows(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		want []any // NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR
	}{
		{"cluster IP with two ports", clusterIPService(),
			[]any{"web", "ClusterIP", "10.96.12.34", "<none>", "80/TCP,443/TCP", "5m", "app=web,tier=frontend"}},
		{"headless", service("web-headless", corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"},
			Selector: map[string]string{"app": "web"},
		}), []any{"web-headless", "ClusterIP", "None", "<none>", "<none>", "60m", "app=web"}},
		{"external name", service("search", corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "search.example.com",
		}), []any{"search", "ExternalName", "<none>", "search.example.com", "<none>", "60m", "<none>"}},
		{"node port with UDP", service("dns", corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
			Ports: []corev1.ServicePort{
				{Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP},
				{Port: 443, NodePort: 30443, Protocol: corev1.ProtocolTCP},
			},
			ExternalIPs: []string{"203.0.113.5"},
		}), []any{"dns", "NodePort", "10.96.0.10", "203.0.113.5", "53:30053/UDP,443:30443/TCP", "60m", "<none>"}},
		{"load balancer pending", service("lb", corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 31080, Protocol: corev1.ProtocolTCP}},
		}), []any{"lb", "LoadBalancer", "10.96.0.20", "<pending>", "80:31080/TCP", "60m", "<none>"}},
		{"load balancer with ingress", func() *corev1.Service {
			s := service("lb", corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"},
				Ports:       []corev1.ServicePort{{Port: 80, NodePort: 31080, Protocol: corev1.ProtocolTCP}},
				ExternalIPs: []string{"198.51.100.9"},
			})
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}, {Hostname: "a-very-long-load-balancer-name.example.com"}, {IP: "203.0.113.7"}}
			return s
		}(), []any{"lb", "LoadBalancer", "10.96.0.20", "203.0.113.7,a-very-long-load-balancer-name.example.com,198.51.100.9", "80:31080/TCP", "60m", "<none>"}},
		{"API defaults: no type, protocol or clusterIPs", service("bare", corev1.ServiceSpec{
			ClusterIP: "10.96.0.30",
			Ports:     []corev1.ServicePort{{Port: 8080}},
		}), []any{"bare", "ClusterIP", "10.96.0.30", "<none>", "8080/TCP", "60m", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, serviceGK, tt.svc), tt.want)
		})
	}
}

func TestEndpointsRows(t *testing.T) {
	gk := schema.GroupKind{Kind: "Endpoints"}
	meta := metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(5 * time.Minute)}
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"none", nil, "<none>"},
		{"two addresses one port", []corev1.EndpointSubset{{
			Addresses: addrs("10.244.1.7", "10.244.2.9"), Ports: []corev1.EndpointPort{{Port: 8080}},
		}}, "10.244.1.7:8080,10.244.2.9:8080"},
		{"more than three", []corev1.EndpointSubset{{
			Addresses: addrs("10.244.1.7", "10.244.2.9"), Ports: []corev1.EndpointPort{{Name: "http", Port: 80}, {Name: "https", Port: 443}},
		}}, "10.244.1.7:80,10.244.2.9:80,10.244.1.7:443 + 1 more..."},
		{"headless without ports, IPv6", []corev1.EndpointSubset{{Addresses: addrs("fd00::1", "fd00::2")}}, "fd00::1,fd00::2"},
		{"IPv6 with port", []corev1.EndpointSubset{{Addresses: addrs("fd00::1"), Ports: []corev1.EndpointPort{{Port: 80}}}}, "[fd00::1]:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: meta, Subsets: tt.subsets}
			assertCells(t, rowCells(t, gk, ep), []any{"web", tt.want, "5m"})
		})
	}
}

func TestNamespaceRows(t *testing.T) {
	gk := schema.GroupKind{Kind: "Namespace"}
	deleted := metav1.NewTime(now)
	tests := []struct {
		name string
		ns   *corev1.Namespace
		want []any
	}{
		{"active", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: ago(10 * 24 * time.Hour)}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			[]any{"default", "Active", "10d"}},
		{"terminating", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "old", CreationTimestamp: ago(time.Hour)}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			[]any{"old", "Terminating", "60m"}},
		{"phase not yet set", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "new", CreationTimestamp: ago(time.Second)}},
			[]any{"new", "Active", "1s"}},
		{"phase not set, deleted", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gone", CreationTimestamp: ago(time.Second), DeletionTimestamp: &deleted}},
			[]any{"gone", "Terminating", "1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, gk, tt.ns), tt.want)
		})
	}
}

func readyNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:              "node-a",
			CreationTimestamp: ago(3 * 24 * time.Hour),
			Labels: map[string]string{
				"kubernetes.io/hostname":                "node-a",
				"node-role.kubernetes.io/control-plane": "",
				"node-role.kubernetes.io/worker":        "",
			},
		},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeHostName, Address: "node-a"},
				{Type: corev1.NodeInternalIP, Address: "10.0.0.11"},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          "v1.37.2",
				OSImage:                 "Debian GNU/Linux 12 (bookworm)",
				KernelVersion:           "6.1.0-28-amd64",
				ContainerRuntimeVersion: "containerd://2.1.4",
			},
		},
	}
}

func TestNodeRows(t *testing.T) {
	gk := schema.GroupKind{Kind: "Node"}
	tests := []struct {
		name string
		node func() *corev1.Node
		want []any // NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME
	}{
		{"ready control plane", readyNode,
			[]any{"node-a", "Ready", "control-plane,worker", "3d", "v1.37.2", "10.0.0.11", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-28-amd64", "containerd://2.1.4"}},
		{"cordoned and not ready", func() *corev1.Node {
			n := readyNode()
			n.Labels = map[string]string{"kubernetes.io/role": "edge"}
			n.Spec.Unschedulable = true
			n.Status.Conditions[1].Status = corev1.ConditionFalse
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.21"})
			return n
		}, []any{"node-a", "NotReady,SchedulingDisabled", "edge", "3d", "v1.37.2", "10.0.0.11", "203.0.113.21", "Debian GNU/Linux 12 (bookworm)", "6.1.0-28-amd64", "containerd://2.1.4"}},
		{"just registered", func() *corev1.Node {
			return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b", CreationTimestamp: ago(20 * time.Second)}}
		}, []any{"node-b", "Unknown", "<none>", "20s", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, gk, tt.node()), tt.want)
		})
	}
}

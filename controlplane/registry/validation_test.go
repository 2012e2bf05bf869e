package registry

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// with returns obj after applying change to it, so that a test case reads
// as "a valid object, except".
func with[T runtime.Object](obj T, change func(T)) T {
	change(obj)
	return obj
}

func objectMeta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}

func validPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: objectMeta("default", "web-0"),
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:    "web",
				Command: []string{"/usr/bin/python3", "-m", "http.server", "8080"},
				Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}},
				},
			}},
		},
	}
}

func validService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta("default", "web"),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			},
		},
	}
}

func validDeployment() *appsv1.Deployment {
	pod := validPod()
	return &appsv1.Deployment{
		ObjectMeta: objectMeta("default", "web"),
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec:       pod.Spec,
			},
		},
	}
}

func validReplicaSet() *appsv1.ReplicaSet {
	d := validDeployment()
	return &appsv1.ReplicaSet{
		ObjectMeta: objectMeta("default", "web-5d4f8"),
		Spec:       appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: d.Spec.Template},
	}
}

func validEndpointSlice() *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  objectMeta("default", "web-abcde"),
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.5"}, NodeName: new("node-1")},
			{Addresses: []string{"10.244.1.7"}, Conditions: discoveryv1.EndpointConditions{Ready: new(false)}},
		},
		Ports: []discoveryv1.EndpointPort{
			{Name: new("http"), Port: new(int32(8080))},
			{Name: new("dns"), Port: new(int32(53)), Protocol: new(corev1.ProtocolUDP)},
		},
	}
}

func validEndpoints() *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: objectMeta("default", "web"),
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.244.0.5"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.1.7"}},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}},
		}},
	}
}

func validEvent() *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     objectMeta("default", "web-0.17a8b3c4d5e6f789"),
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0"},
		Reason:         "Started",
		Count:          1,
	}
}

// validObjects are one valid object of each type, fresh on every call.
func validObjects() map[string]runtime.Object {
	return map[string]runtime.Object{
		"namespace":     &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		"node":          &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1.example.com"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}}},
		"pod":           validPod(),
		"service":       validService(),
		"endpoints":     validEndpoints(),
		"event":         validEvent(),
		"deployment":    validDeployment(),
		"replicaset":    validReplicaSet(),
		"endpointslice": validEndpointSlice(),
		"lease":         &coordinationv1.Lease{ObjectMeta: objectMeta("kube-system", "shoal-scheduler"), Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: new(int32(15))}},
		"headless":      with(validService(), func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone; s.Spec.Ports = nil }),
		"externalname":  &corev1.Service{ObjectMeta: objectMeta("default", "db"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}},
		"clusterip":     with(validService(), func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10"; s.Spec.ClusterIPs = []string{"10.96.0.10"} }),
	}
}

func TestValidateValid(t *testing.T) {
	for name, obj := range validObjects() {
		t.Run(name, func(t *testing.T) {
			if errs := Validate(obj); len(errs) > 0 {
				t.Errorf("Validate: %v", errs)
			}
			// Defaulting must not turn a valid object into an invalid one.
			SetDefaults(obj)
			if errs := Validate(obj); len(errs) > 0 {
				t.Errorf("Validate after SetDefaults: %v", errs)
			}
			if errs := ValidateUpdate(obj, obj.DeepCopyObject()); len(errs) > 0 {
				t.Errorf("ValidateUpdate with no change: %v", errs)
			}
		})
	}
}

// errorStrings renders errs as "path: type", sorted, which is what a test
// can state without repeating Kubernetes' wording of each message.
func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+": "+e.Type.String())
	}
	slices.Sort(out)
	return out
}

func checkErrors(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	slices.Sort(want)
	if got := errorStrings(errs); !slices.Equal(got, want) {
		t.Errorf("got errors\n\t%s\nwant\n\t%s\nfull: %v", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"), errs)
	}
}

func TestValidateMetadata(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
		want []string
	}{
		{"no name", with(validPod(), func(p *corev1.Pod) { p.Name = "" }), []string{"metadata.name: Required value"}},
		{"pod name is a subdomain", with(validPod(), func(p *corev1.Pod) { p.Name = "web.0" }), nil},
		{"pod name upper case", with(validPod(), func(p *corev1.Pod) { p.Name = "Web" }), []string{"metadata.name: Invalid value"}},
		{"service name is a DNS-1035 label", with(validService(), func(s *corev1.Service) { s.Name = "1web" }), []string{"metadata.name: Invalid value"}},
		{"service name with a dot", with(validService(), func(s *corev1.Service) { s.Name = "web.a" }), []string{"metadata.name: Invalid value"}},
		{"service lb policy unknown", with(validService(), func(s *corev1.Service) { s.Annotations = map[string]string{"shoal.io/lb-policy": "fastest"} }),
			[]string{"metadata.annotations[shoal.io/lb-policy]: Invalid value"}},
		{"namespace name with a dot", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team.a"}}, []string{"metadata.name: Invalid value"}},
		{"namespaced without namespace", with(validPod(), func(p *corev1.Pod) { p.Namespace = "" }), []string{"metadata.namespace: Required value"}},
		{"cluster-scoped with namespace", &corev1.Node{ObjectMeta: objectMeta("default", "node-1")}, []string{"metadata.namespace: Forbidden"}},
		{"bad label", with(validPod(), func(p *corev1.Pod) { p.Labels = map[string]string{"app": "not valid"} }), []string{"metadata.labels: Invalid value"}},
		{"bad annotation key", with(validPod(), func(p *corev1.Pod) { p.Annotations = map[string]string{"a b": ""} }), []string{"metadata.annotations: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.obj), tt.want) })
	}
}

func TestValidateService(t *testing.T) {
	svc := func(change func(*corev1.Service)) *corev1.Service { return with(validService(), change) }
	tests := []struct {
		name string
		svc  *corev1.Service
		want []string
	}{
		{"bad type", svc(func(s *corev1.Service) { s.Spec.Type = "Magic" }), []string{"spec.type: Unsupported value"}},
		{"no ports", svc(func(s *corev1.Service) { s.Spec.Ports = nil }), []string{"spec.ports: Required value"}},
		{"port out of range", svc(func(s *corev1.Service) { s.Spec.Ports[1].Port = 70000 }), []string{"spec.ports[1].port: Invalid value"}},
		{"port zero", svc(func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }), []string{"spec.ports[0].port: Invalid value"}},
		{"bad protocol", svc(func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }), []string{"spec.ports[0].protocol: Unsupported value"}},
		{"unnamed port of two", svc(func(s *corev1.Service) { s.Spec.Ports[1].Name = "" }), []string{"spec.ports[1].name: Required value"}},
		{"unnamed single port", svc(func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[:1]; s.Spec.Ports[0].Name = "" }), nil},
		{"duplicate port name", svc(func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" }), []string{"spec.ports[1].name: Duplicate value"}},
		{"bad port name", svc(func(s *corev1.Service) { s.Spec.Ports[1].Name = "DNS" }), []string{"spec.ports[1].name: Invalid value"}},
		{"duplicate port and protocol", svc(func(s *corev1.Service) { s.Spec.Ports[1].Port = 80; s.Spec.Ports[1].Protocol = "" }), []string{"spec.ports[1]: Duplicate value"}},
		{"same port other protocol", svc(func(s *corev1.Service) { s.Spec.Ports[1].Port = 80 }), nil},
		{"bad target port number", svc(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(-1) }), []string{"spec.ports[0].targetPort: Invalid value"}},
		{"bad target port name", svc(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("no_underscores") }), []string{"spec.ports[0].targetPort: Invalid value"}},
		{"node port on ClusterIP", svc(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }), []string{"spec.ports[0].nodePort: Forbidden"}},
		{"node port", svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 30080 }), nil},
		{"node port out of range", svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.Ports[0].NodePort = 8080 }), []string{"spec.ports[0].nodePort: Invalid value"}},
		{"bad selector", svc(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "-web"} }), []string{"spec.selector: Invalid value"}},
		{"bad cluster IP", svc(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.300" }), []string{"spec.clusterIP: Invalid value"}},
		{"IPv6 cluster IP", svc(func(s *corev1.Service) { s.Spec.ClusterIP = "fd00::10" }), []string{"spec.clusterIP: Invalid value"}},
		{"cluster IPs disagree", svc(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10"; s.Spec.ClusterIPs = []string{"10.96.0.11"} }), []string{"spec.clusterIPs[0]: Invalid value"}},
		{"headless NodePort", svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.ClusterIP = "None" }), []string{"spec.clusterIP: Invalid value"}},
		{"ExternalName without name", &corev1.Service{ObjectMeta: objectMeta("default", "db"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}}, []string{"spec.externalName: Required value"}},
		{"ExternalName bad name", svc(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db_1.example.com"
		}), []string{"spec.externalName: Invalid value"}},
		{"ExternalName with cluster IP", svc(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com"
			s.Spec.ClusterIP = "10.96.0.10"
		}), []string{"spec.clusterIP: Forbidden"}},
		{"bad session affinity", svc(func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }), []string{"spec.sessionAffinity: Unsupported value"}},
		{"affinity timeout", svc(func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(int32(0))}}
		}), []string{"spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value"}},
		{"bad ip family policy", svc(func(s *corev1.Service) { s.Spec.IPFamilyPolicy = new(corev1.IPFamilyPolicy("DualStack")) }), []string{"spec.ipFamilyPolicy: Unsupported value"}},
		{"bad ip families", svc(func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv4", "IPv4", "IPv5"} }),
			[]string{"spec.ipFamilies: Too many", "spec.ipFamilies[1]: Duplicate value", "spec.ipFamilies[2]: Unsupported value"}},
		{"local traffic policy on ClusterIP", svc(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }), []string{"spec.externalTrafficPolicy: Invalid value"}},
		{"bad external IP", svc(func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"1.2.3"} }), []string{"spec.externalIPs[0]: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.svc), tt.want) })
	}
}

func TestValidatePod(t *testing.T) {
	pod := func(change func(*corev1.Pod)) *corev1.Pod { return with(validPod(), change) }
	second := corev1.Container{Name: "sidecar", Command: []string{"/bin/sleep", "infinity"}}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want []string
	}{
		{"no containers", pod(func(p *corev1.Pod) { p.Spec.Containers = nil }), []string{"spec.containers: Required value"}},
		{"image without command", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Command = nil; p.Spec.Containers[0].Image = "nginx" }), nil},
		{"neither image nor command", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Command = nil }), []string{"spec.containers[0].image: Required value"}},
		{"container name", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web" }), []string{"spec.containers[0].name: Invalid value"}},
		{"no container name", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }), []string{"spec.containers[0].name: Required value"}},
		{"duplicate container name", pod(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, second)
			p.Spec.Containers[1].Name = "web"
		}), []string{"spec.containers[1].name: Duplicate value"}},
		{"init and app container share a name", pod(func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{renamed(second, "web")} }),
			[]string{"spec.containers[0].name: Duplicate value"}},
		{"container port", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }), []string{"spec.containers[0].ports[0].containerPort: Invalid value"}},
		{"port name too long", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "sixteen-letters0" }),
			[]string{"spec.containers[0].ports[0].name: Invalid value"}},
		{"port name unique in pod", pod(func(p *corev1.Pod) {
			second.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 9090}}
			p.Spec.Containers = append(p.Spec.Containers, second)
		}), []string{"spec.containers[1].ports[0].name: Duplicate value"}},
		{"port protocol", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "tcp" }), []string{"spec.containers[0].ports[0].protocol: Unsupported value"}},
		{"restart policy", pod(func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }), []string{"spec.restartPolicy: Unsupported value"}},
		{"dns policy", pod(func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }), []string{"spec.dnsPolicy: Unsupported value"}},
		{"dns policy None needs nameservers", pod(func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }), []string{"spec.dnsConfig.nameservers: Required value"}},
		{"grace period", pod(func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = new(int64(-1)) }), []string{"spec.terminationGracePeriodSeconds: Invalid value"}},
		{"hostname and subdomain", pod(func(p *corev1.Pod) { p.Spec.Hostname = "a.b"; p.Spec.Subdomain = "Web" }),
			[]string{"spec.hostname: Invalid value", "spec.subdomain: Invalid value"}},
		{"node name", pod(func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" }), []string{"spec.nodeName: Invalid value"}},
		{"env name", pod(func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "OK_1"}, {Name: "1=bad"}} }),
			[]string{"spec.containers[0].env[1].name: Invalid value"}},
		{"probe without handler", pod(func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.HTTPGet = nil }),
			[]string{"spec.containers[0].readinessProbe: Required value"}},
		{"probe with two handlers", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}
		}), []string{"spec.containers[0].readinessProbe.tcpSocket: Forbidden"}},
		{"probe port", pod(func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromInt32(0) }),
			[]string{"spec.containers[0].readinessProbe.httpGet.port: Invalid value"}},
		{"probe thresholds", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.FailureThreshold = -1
			p.Spec.Containers[0].ReadinessProbe.SuccessThreshold = 2
		}), []string{"spec.containers[0].readinessProbe.failureThreshold: Invalid value"}},
		{"liveness success threshold", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
				SuccessThreshold: 2,
			}
		}), []string{"spec.containers[0].livenessProbe.successThreshold: Invalid value"}},
		{"requests above limits", pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("-1Mi")},
			}
		}), []string{"spec.containers[0].resources.requests[cpu]: Invalid value", "spec.containers[0].resources.requests[memory]: Invalid value"}},
		{"mount of unknown volume", pod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data"}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "logs", MountPath: "/logs"}}
		}), []string{"spec.containers[0].volumeMounts[1].name: Not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.pod), tt.want) })
	}
}

// renamed returns c renamed, for building pods with several containers.
func renamed(c corev1.Container, name string) corev1.Container {
	c.Name = name
	return c
}

func TestValidateWorkloads(t *testing.T) {
	deploy := func(change func(*appsv1.Deployment)) *appsv1.Deployment { return with(validDeployment(), change) }
	tests := []struct {
		name string
		obj  runtime.Object
		want []string
	}{
		{"negative replicas", deploy(func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(-1)) }), []string{"spec.replicas: Invalid value"}},
		{"no selector", deploy(func(d *appsv1.Deployment) { d.Spec.Selector = nil }), []string{"spec.selector: Required value"}},
		{"empty selector", deploy(func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }), []string{"spec.selector: Invalid value"}},
		{"selector does not match", deploy(func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "api"} }),
			[]string{"spec.template.metadata.labels: Invalid value"}},
		{"template pod spec", deploy(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort = 70000 }),
			[]string{"spec.template.spec.containers[0].ports[0].containerPort: Invalid value"}},
		{"template restart policy", deploy(func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			[]string{"spec.template.spec.restartPolicy: Unsupported value"}},
		{"strategy type", deploy(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }), []string{"spec.strategy.type: Unsupported value"}},
		{"recreate with rolling update", deploy(func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}), []string{"spec.strategy.rollingUpdate: Forbidden"}},
		{"surge and unavailable both zero", deploy(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: new(intstr.FromInt32(0)), MaxUnavailable: new(intstr.FromString("0%"))}
		}), []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value"}},
		{"bad percentages", deploy(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: new(intstr.FromString("ten")), MaxUnavailable: new(intstr.FromString("150%"))}
		}), []string{"spec.strategy.rollingUpdate.maxSurge: Invalid value", "spec.strategy.rollingUpdate.maxUnavailable: Invalid value"}},
		{"history and ready seconds", deploy(func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = new(int32(-1)); d.Spec.MinReadySeconds = -1 }),
			[]string{"spec.minReadySeconds: Invalid value", "spec.revisionHistoryLimit: Invalid value"}},
		{"replica set selector", with(validReplicaSet(), func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}
		}), []string{"spec.selector.matchExpressions[0].operator: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.obj), tt.want) })
	}
}

func TestValidateEndpoints(t *testing.T) {
	slice := func(change func(*discoveryv1.EndpointSlice)) *discoveryv1.EndpointSlice {
		return with(validEndpointSlice(), change)
	}
	tests := []struct {
		name string
		obj  runtime.Object
		want []string
	}{
		{"no address type", slice(func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }), []string{"addressType: Required value"}},
		{"bad address type", slice(func(s *discoveryv1.EndpointSlice) { s.AddressType = "IPv5" }), []string{"addressType: Unsupported value"}},
		{"address of the wrong family", slice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[1].Addresses[0] = "fd00::7" }),
			[]string{"endpoints[1].addresses[0]: Invalid value"}},
		{"no addresses", slice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }), []string{"endpoints[0].addresses: Required value"}},
		{"too many addresses", slice(func(s *discoveryv1.EndpointSlice) {
			s.Endpoints[0].Addresses = slices.Repeat([]string{"10.244.0.5"}, 101)
		}),
			[]string{"endpoints[0].addresses: Too many"}},
		{"too many endpoints", slice(func(s *discoveryv1.EndpointSlice) {
			for range 1000 {
				s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.0.9"}})
			}
		}), []string{"endpoints: Too many"}},
		{"FQDN", slice(func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"db.example.com"}}, {Addresses: []string{"not a name"}}}
		}), []string{"endpoints[1].addresses[0]: Invalid value"}},
		{"duplicate port name", slice(func(s *discoveryv1.EndpointSlice) { s.Ports[1].Name = new("http") }), []string{"ports[1].name: Duplicate value"}},
		{"port number", slice(func(s *discoveryv1.EndpointSlice) { s.Ports[0].Port = new(int32(0)) }), []string{"ports[0].port: Invalid value"}},
		{"endpoints address", with(validEndpoints(), func(ep *corev1.Endpoints) { ep.Subsets[0].NotReadyAddresses[0].IP = "10.244.1" }),
			[]string{"subsets[0].notReadyAddresses[0].ip: Invalid value"}},
		{"endpoints unnamed port", with(validEndpoints(), func(ep *corev1.Endpoints) { ep.Subsets[0].Ports[0].Name = "" }),
			[]string{"subsets[0].ports[0].name: Required value"}},
		{"endpoints empty subset", with(validEndpoints(), func(ep *corev1.Endpoints) { ep.Subsets[0].Addresses, ep.Subsets[0].NotReadyAddresses = nil, nil }),
			[]string{"subsets[0]: Required value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.obj), tt.want) })
	}
}

func TestValidateOthers(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
		want []string
	}{
		{"lease duration", &coordinationv1.Lease{ObjectMeta: objectMeta("kube-system", "l"), Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: new(int32(0))}},
			[]string{"spec.leaseDurationSeconds: Invalid value"}},
		{"event about nothing", with(validEvent(), func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{} }),
			[]string{"involvedObject.kind: Required value", "involvedObject.name: Required value"}},
		{"event in another namespace", with(validEvent(), func(e *corev1.Event) { e.InvolvedObject.Namespace = "kube-system" }),
			[]string{"involvedObject.namespace: Invalid value"}},
		{"namespace phase", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Status: corev1.NamespaceStatus{Phase: "Gone"}},
			[]string{"status.phase: Unsupported value"}},
		{"node taint", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "k"}}}},
			[]string{"spec.taints[0].effect: Required value"}},
		{"node pod CIDR", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/33"}}},
			[]string{"spec.podCIDRs[0]: Invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, Validate(tt.obj), tt.want) })
	}
}

func TestValidateUpdate(t *testing.T) {
	allocated := with(validService(), func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10"; s.Spec.ClusterIPs = []string{"10.96.0.10"} })
	bound := with(validPod(), func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Spec.ActiveDeadlineSeconds = new(int64(600))
		p.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists}}
	})
	tests := []struct {
		name     string
		obj, old runtime.Object
		want     []string
	}{
		{"rename", with(validPod(), func(p *corev1.Pod) { p.Name = "web-1" }), validPod(), []string{"metadata.name: Invalid value"}},
		{"move namespace", with(validPod(), func(p *corev1.Pod) { p.Namespace = "other" }), validPod(), []string{"metadata.namespace: Invalid value"}},
		{"other kind", validService(), validPod(), []string{"kind: Internal error"}},
		{"cluster IP changed", with(allocated.DeepCopy(), func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.11"; s.Spec.ClusterIPs = []string{"10.96.0.11"} }), allocated,
			[]string{"spec.clusterIP: Invalid value", "spec.clusterIPs: Invalid value"}},
		{"cluster IP dropped", with(allocated.DeepCopy(), func(s *corev1.Service) { s.Spec.ClusterIP = ""; s.Spec.ClusterIPs = nil }), allocated,
			[]string{"spec.clusterIP: Invalid value", "spec.clusterIPs: Invalid value"}},
		{"cluster IP allocated", allocated, validService(), nil},
		{"to ExternalName", with(validService(), func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "web.example.com"
		}), allocated, nil},
		{"ports changed", with(allocated.DeepCopy(), func(s *corev1.Service) { s.Spec.Ports[0].Port = 8080 }), allocated, nil},
		{"selector changed", with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels["tier"] = "front" }), validDeployment(),
			[]string{"spec.selector: Invalid value"}},
		{"replicas and template changed", with(validDeployment(), func(d *appsv1.Deployment) {
			d.Spec.Replicas = new(int32(5))
			d.Spec.Template.Spec.Containers[0].Command = []string{"/bin/true"}
		}), validDeployment(), nil},
		{"replica set selector changed", with(validReplicaSet(), func(rs *appsv1.ReplicaSet) { rs.Spec.Selector.MatchLabels["tier"] = "front" }), validReplicaSet(),
			[]string{"spec.selector: Invalid value"}},
		{"slice address type changed", with(validEndpointSlice(), func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints = nil
		}), validEndpointSlice(), []string{"addressType: Invalid value"}},
		{"pod bound", with(validPod(), func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }), validPod(), nil},
		{"pod moved", with(bound.DeepCopy(), func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }), bound, []string{"spec.nodeName: Invalid value"}},
		{"pod image, deadline, toleration", with(bound.DeepCopy(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "python:3.13"
			p.Spec.ActiveDeadlineSeconds = new(int64(300))
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "b", Operator: corev1.TolerationOpExists})
		}), bound, nil},
		{"pod deadline raised", with(bound.DeepCopy(), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = new(int64(900)) }), bound,
			[]string{"spec.activeDeadlineSeconds: Invalid value"}},
		{"pod toleration removed", with(bound.DeepCopy(), func(p *corev1.Pod) { p.Spec.Tolerations = nil }), bound, []string{"spec.tolerations: Forbidden"}},
		{"pod command changed", with(bound.DeepCopy(), func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"/bin/true"} }), bound, []string{"spec: Forbidden"}},
		{"finalizer added while deleting", with(validPod(), func(p *corev1.Pod) {
			p.DeletionTimestamp = &metav1.Time{}
			p.Finalizers = []string{"example.com/hold"}
		}), with(validPod(), func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} }), []string{"metadata.finalizers: Forbidden"}},
		{"invalid update is invalid", with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx"; p.Spec.Containers[0].Name = "" }), validPod(),
			[]string{"spec.containers[0].name: Required value", "spec: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, ValidateUpdate(tt.obj, tt.old), tt.want) })
	}
}

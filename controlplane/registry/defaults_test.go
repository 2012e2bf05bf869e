package registry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestSetDefaultsService(t *testing.T) {
	tests := []struct {
		name string
		in   corev1.ServiceSpec
		want corev1.ServiceSpec
	}{
		{
			name: "ClusterIP",
			in: corev1.ServiceSpec{Ports: []corev1.ServicePort{
				{Name: "http", Port: 80},
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
			}},
			want: corev1.ServiceSpec{
				Type:            corev1.ServiceTypeClusterIP,
				SessionAffinity: corev1.ServiceAffinityNone,
				Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)},
					{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
				},
				// ipFamilies, ipFamilyPolicy and clusterIP are the allocator's.
				InternalTrafficPolicy: new(corev1.ServiceInternalTrafficPolicyCluster),
			},
		},
		{
			name: "NodePort with ClientIP affinity",
			in: corev1.ServiceSpec{
				Type:            corev1.ServiceTypeNodePort,
				SessionAffinity: corev1.ServiceAffinityClientIP,
				Ports:           []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080}},
			},
			want: corev1.ServiceSpec{
				Type:                  corev1.ServiceTypeNodePort,
				SessionAffinity:       corev1.ServiceAffinityClientIP,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(int32(10800))}},
				Ports:                 []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080), NodePort: 30080}},
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
				InternalTrafficPolicy: new(corev1.ServiceInternalTrafficPolicyCluster),
			},
		},
		{
			name: "LoadBalancer",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromString("")}}},
			want: corev1.ServiceSpec{
				Type:                          corev1.ServiceTypeLoadBalancer,
				SessionAffinity:               corev1.ServiceAffinityNone,
				Ports:                         []corev1.ServicePort{{Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(443)}},
				ExternalTrafficPolicy:         corev1.ServiceExternalTrafficPolicyCluster,
				AllocateLoadBalancerNodePorts: new(true),
				InternalTrafficPolicy:         new(corev1.ServiceInternalTrafficPolicyCluster),
			},
		},
		{
			name: "ExternalName",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{Spec: tt.in}
			SetDefaults(svc)
			if diff := cmp.Diff(tt.want, svc.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetDefaultsPod(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "scratch"}},
		Containers: []corev1.Container{{
			Name:    "web",
			Image:   "registry.local:5000/web",
			Command: []string{"/srv/web"},
			Ports:   []corev1.ContainerPort{{ContainerPort: 8080}},
			Env:     []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
			LivenessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 5,
			},
		}},
	}}
	SetDefaults(pod)
	want := corev1.PodSpec{
		Volumes:                       []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		TerminationGracePeriodSeconds: new(int64(30)),
		SchedulerName:                 "default-scheduler",
		SecurityContext:               &corev1.PodSecurityContext{},
		EnableServiceLinks:            new(true),
		Containers: []corev1.Container{{
			Name:    "web",
			Image:   "registry.local:5000/web",
			Command: []string{"/srv/web"},
			Ports:   []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"},
			}}},
			LivenessProbe: &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Scheme: corev1.URISchemeHTTP, Port: intstr.FromInt32(8080)}},
				TimeoutSeconds:   1,
				PeriodSeconds:    5,
				SuccessThreshold: 1,
				FailureThreshold: 3,
			},
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			// No tag is "latest", however many colons the registry has.
			ImagePullPolicy: corev1.PullAlways,
		}},
	}
	if diff := cmp.Diff(want, pod.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

func TestSetDefaultsPodHostNetworkAndResources(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		HostNetwork: true,
		Containers: []corev1.Container{{
			Name:  "agent",
			Ports: []corev1.ContainerPort{{ContainerPort: 9100}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			},
		}},
	}}
	SetDefaults(pod)
	c := pod.Spec.Containers[0]
	if c.Ports[0].HostPort != 9100 {
		t.Errorf("hostPort = %d, want the containerPort 9100 on the host network", c.Ports[0].HostPort)
	}
	if got := c.Resources.Requests.Cpu().String(); got != "100m" {
		t.Errorf("cpu request = %s, want 100m kept", got)
	}
	if got := c.Resources.Requests.Memory().String(); got != "64Mi" {
		t.Errorf("memory request = %s, want the 64Mi limit", got)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"", corev1.PullIfNotPresent},
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"localhost:5000/nginx", corev1.PullAlways},
		{"localhost:5000/nginx:1.27", corev1.PullIfNotPresent},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		if got := defaultPullPolicy(tt.image); got != tt.want {
			t.Errorf("defaultPullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
		}
	}
}

func TestSetDefaultsWorkloads(t *testing.T) {
	d := validDeployment()
	d.Spec.Replicas = nil
	SetDefaults(d)
	wantSpec := appsv1.DeploymentSpec{
		Replicas: new(int32(1)),
		Strategy: appsv1.DeploymentStrategy{
			Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: new(intstr.FromString("25%")),
				MaxSurge:       new(intstr.FromString("25%")),
			},
		},
		RevisionHistoryLimit:    new(int32(10)),
		ProgressDeadlineSeconds: new(int32(600)),
	}
	got := d.Spec
	got.Selector, got.Template = nil, corev1.PodTemplateSpec{}
	if diff := cmp.Diff(wantSpec, got); diff != "" {
		t.Errorf("deployment spec (-want +got):\n%s", diff)
	}
	if d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || d.Spec.Template.Spec.Containers[0].TerminationMessagePath == "" {
		t.Errorf("template pod spec not defaulted: %+v", d.Spec.Template.Spec)
	}

	recreate := validDeployment()
	recreate.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	SetDefaults(recreate)
	if recreate.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate got rollingUpdate %+v", recreate.Spec.Strategy.RollingUpdate)
	}

	rs := validReplicaSet()
	rs.Spec.Replicas = nil
	SetDefaults(rs)
	if rs.Spec.Replicas == nil || *rs.Spec.Replicas != 1 {
		t.Errorf("replica set replicas = %v, want 1", rs.Spec.Replicas)
	}
	if rs.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("replica set template dnsPolicy = %q, want ClusterFirst", rs.Spec.Template.Spec.DNSPolicy)
	}
}

func TestSetDefaultsNamespace(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	SetDefaults(ns)
	want := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	if diff := cmp.Diff(want, ns); diff != "" {
		t.Errorf("namespace (-want +got):\n%s", diff)
	}

	// Once the namespace controller has emptied a terminating namespace and
	// removed its finalizer, defaulting the update must not put it back.
	ns.Status.Phase = corev1.NamespaceTerminating
	ns.DeletionTimestamp = &metav1.Time{}
	ns.Spec.Finalizers = nil
	SetDefaults(ns)
	if len(ns.Spec.Finalizers) != 0 || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("terminating namespace defaulted to finalizers %v, phase %s", ns.Spec.Finalizers, ns.Status.Phase)
	}
}

func TestSetDefaultsEndpoints(t *testing.T) {
	slice := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}}},
		Ports:       []discoveryv1.EndpointPort{{Port: new(int32(8080))}},
	}
	SetDefaults(slice)
	wantPorts := []discoveryv1.EndpointPort{{Name: new(""), Port: new(int32(8080)), Protocol: new(corev1.ProtocolTCP)}}
	if diff := cmp.Diff(wantPorts, slice.Ports); diff != "" {
		t.Errorf("slice ports (-want +got):\n%s", diff)
	}
	if c := slice.Endpoints[0].Conditions; c.Ready != nil || c.Serving != nil || c.Terminating != nil {
		t.Errorf("endpoint conditions defaulted to %+v, want them left unset", c)
	}

	ep := validEndpoints()
	SetDefaults(ep)
	if p := ep.Subsets[0].Ports; p[0].Protocol != corev1.ProtocolTCP || p[1].Protocol != corev1.ProtocolUDP {
		t.Errorf("endpoints ports = %+v, want TCP defaulted and UDP kept", p)
	}
}

func TestSetDefaultsNode(t *testing.T) {
	node := &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")}}}
	SetDefaults(node)
	if got := node.Status.Allocatable.Pods().String(); got != "110" {
		t.Errorf("allocatable pods = %s, want the capacity 110", got)
	}
}

// TestSetDefaultsIdempotent checks that defaulting twice changes nothing,
// since the API server defaults on every write.
func TestSetDefaultsIdempotent(t *testing.T) {
	for name, obj := range validObjects() {
		SetDefaults(obj)
		again := obj.DeepCopyObject()
		SetDefaults(again)
		if !apiequality.Semantic.DeepEqual(obj, again) {
			t.Errorf("%s: second SetDefaults changed the object", name)
		}
	}
}

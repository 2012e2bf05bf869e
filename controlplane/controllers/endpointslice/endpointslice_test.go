package endpointslice

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

func TestEndpointSliceFollowsPods(t *testing.T) {
	e := newEnv(t)
	e.start()
	svc := e.Service(controllertest.HTTPService("web"))

	// A service that selects nothing yet has one empty placeholder slice.
	placeholder := e.waitSlices("web", ": ")[0]

	web := map[string]string{"app": "web"}
	e.CreatePod("a", web, controllertest.HTTPPort(8080), func(p *corev1.Pod) { p.Spec.NodeName = "node-1" })
	e.CreatePod("b", web, controllertest.HTTPPort(8080))
	e.CreatePod("c", web, controllertest.HTTPPort(8080))
	e.CreatePod("d", map[string]string{"app": "other"}, controllertest.HTTPPort(8080))
	e.SetPodStatus("a", "10.244.0.1", true)
	e.SetPodStatus("b", "10.244.0.2", true)
	e.SetPodStatus("c", "10.244.0.3", false)
	e.SetPodStatus("d", "10.244.0.4", true)
	ss := e.waitSlices("web", "http=8080: a 10.244.0.1 ready; b 10.244.0.2 ready; c 10.244.0.3 notready")
	s := ss[0]

	// The placeholder was rewritten, not deleted and replaced.
	if s.Name != placeholder.Name {
		t.Errorf("slice %s replaced the placeholder %s; want it rewritten", s.Name, placeholder.Name)
	}
	if !strings.HasPrefix(s.Name, "web-") || len(s.Name) != len("web-")+5 {
		t.Errorf("slice name %q, want web-<5 random characters>", s.Name)
	}
	wantLabels := map[string]string{"team": "shop", discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	if !maps.Equal(s.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", s.Labels, wantLabels)
	}
	if len(s.OwnerReferences) != 1 {
		t.Fatalf("ownerReferences %v, want the service", s.OwnerReferences)
	}
	if o := s.OwnerReferences[0]; o.Kind != "Service" || o.APIVersion != "v1" || o.Name != "web" || o.UID != svc.UID ||
		o.Controller == nil || !*o.Controller || o.BlockOwnerDeletion == nil || !*o.BlockOwnerDeletion {
		t.Errorf("ownerReference %+v, want the controlling, blocking reference to service web %s", o, svc.UID)
	}
	if s.AddressType != discoveryv1.AddressTypeIPv4 || *s.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("addressType %s protocol %s, want IPv4 TCP", s.AddressType, *s.Ports[0].Protocol)
	}
	for _, ep := range s.Endpoints {
		ref := ep.TargetRef
		if ref == nil || ref.Kind != "Pod" || ref.Namespace != "default" || ref.UID == "" {
			t.Errorf("endpoint %v: targetRef %+v, want the pod", ep.Addresses, ref)
		}
		if wantNode := ref.Name == "a"; wantNode != (ep.NodeName != nil && *ep.NodeName == "node-1") {
			t.Errorf("pod %s: nodeName %v", ref.Name, ep.NodeName)
		}
	}

	e.SetPodStatus("a", "10.244.0.1", false)
	e.waitSlices("web", "http=8080: a 10.244.0.1 notready; b 10.244.0.2 ready; c 10.244.0.3 notready")

	e.Relabel("b", map[string]string{"app": "other"})
	e.Relabel("d", web)
	e.waitSlices("web", "http=8080: a 10.244.0.1 notready; c 10.244.0.3 notready; d 10.244.0.4 ready")

	e.Delete(registry.Pods, "c")
	// A burst of changes to one pod ends in one slice with its last state.
	for i := range 20 {
		e.SetPodStatus("a", "10.244.0.1", i%2 == 1)
	}
	ss = e.waitSlices("web", "http=8080: a 10.244.0.1 ready; d 10.244.0.4 ready")
	if ss[0].Name != placeholder.Name {
		t.Errorf("slice %s, want still %s", ss[0].Name, placeholder.Name)
	}
}

func TestEndpointSliceShapes(t *testing.T) {
	web := map[string]string{"app": "web"}
	for _, c := range []struct {
		name string
		svc  *corev1.Service
		pods func(e env)
		want []string
	}{{
		name: "a pod without the named port is in no slice with that port",
		svc:  controllertest.HTTPService("web"),
		pods: func(e env) {
			e.CreatePod("x", web, controllertest.HTTPPort(8080))
			e.CreatePod("y", web, []corev1.ContainerPort{{Name: "admin", ContainerPort: 9000}})
			e.SetPodStatus("x", "10.244.0.1", true)
			e.SetPodStatus("y", "10.244.0.2", true)
		},
		// Like Kubernetes, the pod goes into a slice of its own port set,
		// which here has no ports: no client sends it port "http" traffic.
		want: []string{"http=8080: x 10.244.0.1 ready", ": y 10.244.0.2 ready"},
	}, {
		name: "pods whose named port differs are in different slices",
		svc:  controllertest.HTTPService("web"),
		pods: func(e env) {
			e.CreatePod("x", web, controllertest.HTTPPort(8080))
			e.CreatePod("z", web, controllertest.HTTPPort(9090))
			e.SetPodStatus("x", "10.244.0.1", true)
			e.SetPodStatus("z", "10.244.0.3", false)
		},
		want: []string{"http=8080: x 10.244.0.1 ready", "http=9090: z 10.244.0.3 notready"},
	}, {
		name: "multi-port service",
		svc: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: web,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), AppProtocol: new("http")},
				{Name: "metrics", Port: 9100, TargetPort: intstr.FromInt32(9100)},
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(5353)},
			}}},
		pods: func(e env) {
			e.CreatePod("x", web, controllertest.HTTPPort(8080))
			e.SetPodStatus("x", "10.244.0.1", true)
		},
		want: []string{"dns=5353,http=8080,metrics=9100: x 10.244.0.1 ready"},
	}, {
		name: "headless service publishes hostnames of pods in its subdomain",
		svc: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"},
			Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}},
		pods: func(e env) {
			db := map[string]string{"app": "db"}
			e.CreatePod("db-0", db, nil, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" })
			e.CreatePod("db-1", db, nil, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-1", "elsewhere" })
			e.SetPodStatus("db-0", "10.244.0.1", true)
			e.SetPodStatus("db-1", "10.244.0.2", false)
		},
		want: []string{"pg=5432: db-0 10.244.0.1 ready host=db-0; db-1 10.244.0.2 notready"},
	}, {
		name: "publishNotReadyAddresses makes every endpoint ready",
		svc: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: web, PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}},
		pods: func(e env) {
			e.CreatePod("x", web, controllertest.HTTPPort(8080))
			e.CreatePod("y", web, controllertest.HTTPPort(8080))
			e.CreatePod("done", web, controllertest.HTTPPort(8080))
			e.SetPodStatus("x", "10.244.0.1", true)
			e.SetPodStatus("y", "10.244.0.2", false)
			e.SetPodStatus("done", "10.244.0.3", false)
			_, err := e.Reg.Update(e.Ctx, registry.Pods, "default", "done", "status", func(cur store.Object) (store.Object, error) {
				cur.(*corev1.Pod).Status.Phase = corev1.PodSucceeded
				cur.SetResourceVersion("")
				return cur, nil
			}, registry.WriteOptions{})
			if err != nil {
				e.T.Fatal(err)
			}
		},
		// y is ready because it is published, but not serving; a finished
		// pod is never an endpoint.
		want: []string{"http=8080: x 10.244.0.1 ready; y 10.244.0.2 ready"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.start()
			e.Service(c.svc)
			c.pods(e)
			ss := e.waitSlices(c.svc.Name, c.want...)
			_, headless := ss[0].Labels[corev1.IsHeadlessService]
			if headless != (c.svc.Spec.ClusterIP == corev1.ClusterIPNone) {
				t.Errorf("labels %v: headless label %v, want %v", ss[0].Labels, headless, !headless)
			}
			if c.svc.Spec.PublishNotReadyAddresses {
				for _, ep := range ss[0].Endpoints {
					if ep.TargetRef.Name == "y" && *ep.Conditions.Serving {
						t.Errorf("not-ready pod y published as serving")
					}
				}
			}
		})
	}
}

// A service without a selector is the operator's: its hand-written slice
// stays as written, and the controller adds none.
func TestEndpointSliceLeavesServicesWithoutSelector(t *testing.T) {
	e := newEnv(t)
	ext := e.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	e.CreatePod("x", map[string]string{"app": "legacy"}, controllertest.HTTPPort(8080))
	e.SetPodStatus("x", "10.244.0.1", true)
	res, err := e.Reg.Create(e.Ctx, registry.EndpointSlices, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "legacy-by-hand",
			Labels: map[string]string{discoveryv1.LabelServiceName: "legacy", discoveryv1.LabelManagedBy: "staff"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(80))}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}}},
	}, registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	syncs := countSyncs(t)
	e.start()
	// Both services (legacy and kubernetes) have been reconciled, and a
	// service with a selector created after them too.
	e.Service(controllertest.HTTPService("web"))
	e.waitSlices("web", ": ")
	controllertest.Eventually(t, "service legacy to be reconciled", func() (bool, string) { return syncs.Get("default/legacy") > 0, "not" })
	ss := e.slices("legacy")
	if len(ss) != 1 || ss[0].ResourceVersion != res.Object.GetResourceVersion() {
		t.Fatalf("slices of service %s without selector: %v; want only the hand-written one, unchanged", ext.Name, describeSlices(ss))
	}
}

func TestEndpointSliceServiceDeleted(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.Service(controllertest.HTTPService("web"))
	e.CreatePod("x", map[string]string{"app": "web"}, controllertest.HTTPPort(8080))
	e.SetPodStatus("x", "10.244.0.1", true)
	e.waitSlices("web", "http=8080: x 10.244.0.1 ready")
	e.Delete(registry.Services, "web")
	e.waitSlices("web")
}

// A restarted controller (a new leader) finds everything as it should be
// and writes nothing.
func TestEndpointSliceRestartWritesNothing(t *testing.T) {
	e := newEnv(t)
	stop := e.start()
	for i := range 3 {
		name := fmt.Sprint("svc", i)
		e.Service(controllertest.HTTPService(name))
		for j := range 3 {
			pod := fmt.Sprintf("%s-%d", name, j)
			e.CreatePod(pod, map[string]string{"app": name}, controllertest.HTTPPort(8080))
			e.SetPodStatus(pod, fmt.Sprintf("10.244.%d.%d", i, j+1), j != 2)
		}
	}
	var rvs []string
	for i := range 3 {
		name := fmt.Sprint("svc", i)
		ss := e.waitSlices(name, fmt.Sprintf("http=8080: %[1]s-0 10.244.%[2]d.1 ready; %[1]s-1 10.244.%[2]d.2 ready; %[1]s-2 10.244.%[2]d.3 notready", name, i))
		rvs = append(rvs, ss[0].Name+"@"+ss[0].ResourceVersion)
	}
	stop()
	before := e.EtcdRevision()

	syncs := countSyncs(t)
	e.start()
	// Each service is queued once at start (by its own replayed event and
	// its slice's, which fold into one).
	controllertest.Eventually(t, "the new controller to reconcile every service", func() (bool, string) {
		for _, k := range []string{"default/kubernetes", "default/svc0", "default/svc1", "default/svc2"} {
			if syncs.Get(k) == 0 {
				return false, k + " not reconciled"
			}
		}
		return true, ""
	})
	// A repeated event changes nothing either.
	r := e.Reg
	synced := syncs.Get("default/svc0")
	if _, err := r.Update(e.Ctx, registry.Services, "default", "svc0", "", func(cur store.Object) (store.Object, error) {
		cur.SetAnnotations(map[string]string{"touched": "yes"})
		cur.SetResourceVersion("")
		return cur, nil
	}, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	before++ // that update
	controllertest.Eventually(t, "the touched service to be reconciled", func() (bool, string) {
		return syncs.Get("default/svc0") > synced, "not"
	})
	if after := e.EtcdRevision(); after != before {
		t.Errorf("restarted controller wrote: etcd revision %d → %d", before, after)
	}
	for i := range 3 {
		ss := e.slices(fmt.Sprint("svc", i))
		if len(ss) != 1 || ss[0].Name+"@"+ss[0].ResourceVersion != rvs[i] {
			t.Errorf("svc%d: slices %v; want %s unchanged", i, ss, rvs[i])
		}
	}
}

package controllers

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

func TestEndpointSliceFollowsPods(t *testing.T) {
	e := newEPEnv(t)
	e.start(NewEndpointSliceController(e.deps()))
	svc := e.service(httpService("web"))

	// A service that selects nothing yet has one empty placeholder slice.
	placeholder := e.waitSlices("web", ": ")[0]

	web := map[string]string{"app": "web"}
	e.pod("a", web, httpPort(8080), func(p *corev1.Pod) { p.Spec.NodeName = "node-1" })
	e.pod("b", web, httpPort(8080))
	e.pod("c", web, httpPort(8080))
	e.pod("d", map[string]string{"app": "other"}, httpPort(8080))
	e.status("a", "10.244.0.1", true)
	e.status("b", "10.244.0.2", true)
	e.status("c", "10.244.0.3", false)
	e.status("d", "10.244.0.4", true)
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
	if !labelsEqual(s.Labels, wantLabels) {
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

	e.status("a", "10.244.0.1", false)
	e.waitSlices("web", "http=8080: a 10.244.0.1 notready; b 10.244.0.2 ready; c 10.244.0.3 notready")

	e.relabel("b", map[string]string{"app": "other"})
	e.relabel("d", web)
	e.waitSlices("web", "http=8080: a 10.244.0.1 notready; c 10.244.0.3 notready; d 10.244.0.4 ready")

	e.delete(registry.Pods, "c")
	// A burst of changes to one pod ends in one slice with its last state.
	for i := range 20 {
		e.status("a", "10.244.0.1", i%2 == 1)
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
		pods func(e *epEnv)
		want []string
	}{{
		name: "a pod without the named port is in no slice with that port",
		svc:  httpService("web"),
		pods: func(e *epEnv) {
			e.pod("x", web, httpPort(8080))
			e.pod("y", web, []corev1.ContainerPort{{Name: "admin", ContainerPort: 9000}})
			e.status("x", "10.244.0.1", true)
			e.status("y", "10.244.0.2", true)
		},
		// Like Kubernetes, the pod goes into a slice of its own port set,
		// which here has no ports: no client sends it port "http" traffic.
		want: []string{"http=8080: x 10.244.0.1 ready", ": y 10.244.0.2 ready"},
	}, {
		name: "pods whose named port differs are in different slices",
		svc:  httpService("web"),
		pods: func(e *epEnv) {
			e.pod("x", web, httpPort(8080))
			e.pod("z", web, httpPort(9090))
			e.status("x", "10.244.0.1", true)
			e.status("z", "10.244.0.3", false)
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
		pods: func(e *epEnv) {
			e.pod("x", web, httpPort(8080))
			e.status("x", "10.244.0.1", true)
		},
		want: []string{"dns=5353,http=8080,metrics=9100: x 10.244.0.1 ready"},
	}, {
		name: "headless service publishes hostnames of pods in its subdomain",
		svc: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"},
			Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}},
		pods: func(e *epEnv) {
			db := map[string]string{"app": "db"}
			e.pod("db-0", db, nil, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" })
			e.pod("db-1", db, nil, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-1", "elsewhere" })
			e.status("db-0", "10.244.0.1", true)
			e.status("db-1", "10.244.0.2", false)
		},
		want: []string{"pg=5432: db-0 10.244.0.1 ready host=db-0; db-1 10.244.0.2 notready"},
	}, {
		name: "publishNotReadyAddresses makes every endpoint ready",
		svc: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: web, PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}},
		pods: func(e *epEnv) {
			e.pod("x", web, httpPort(8080))
			e.pod("y", web, httpPort(8080))
			e.pod("done", web, httpPort(8080))
			e.status("x", "10.244.0.1", true)
			e.status("y", "10.244.0.2", false)
			e.status("done", "10.244.0.3", false)
			_, err := e.reg.Update(e.ctx, registry.Pods, "default", "done", "status", func(cur store.Object) (store.Object, error) {
				cur.(*corev1.Pod).Status.Phase = corev1.PodSucceeded
				cur.SetResourceVersion("")
				return cur, nil
			}, registry.WriteOptions{})
			if err != nil {
				e.t.Fatal(err)
			}
		},
		// y is ready because it is published, but not serving; a finished
		// pod is never an endpoint.
		want: []string{"http=8080: x 10.244.0.1 ready; y 10.244.0.2 ready"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEPEnv(t)
			e.start(NewEndpointSliceController(e.deps()))
			e.service(c.svc)
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
	e := newEPEnv(t)
	ext := e.service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	e.pod("x", map[string]string{"app": "legacy"}, httpPort(8080))
	e.status("x", "10.244.0.1", true)
	res, err := e.reg.Create(e.ctx, registry.EndpointSlices, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "legacy-by-hand",
			Labels: map[string]string{discoveryv1.LabelServiceName: "legacy", discoveryv1.LabelManagedBy: "staff"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(80))}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}}},
	}, registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := NewEndpointSliceController(e.deps())
	e.start(c)
	// Both services (legacy and kubernetes) have been reconciled, and a
	// service with a selector created after them too.
	e.service(httpService("web"))
	e.waitSlices("web", ": ")
	eventually(t, "service legacy to be reconciled", func() (bool, string) { return c.syncs.count("default/legacy") > 0, "not" })
	ss := e.slices("legacy")
	if len(ss) != 1 || ss[0].ResourceVersion != res.Object.GetResourceVersion() {
		t.Fatalf("slices of service %s without selector: %v; want only the hand-written one, unchanged", ext.Name, describeSlices(ss))
	}
}

func TestEndpointSliceServiceDeleted(t *testing.T) {
	e := newEPEnv(t)
	e.start(NewEndpointSliceController(e.deps()))
	e.service(httpService("web"))
	e.pod("x", map[string]string{"app": "web"}, httpPort(8080))
	e.status("x", "10.244.0.1", true)
	e.waitSlices("web", "http=8080: x 10.244.0.1 ready")
	e.delete(registry.Services, "web")
	e.waitSlices("web")
}

// A restarted controller (a new leader) finds everything as it should be
// and writes nothing.
func TestEndpointSliceRestartWritesNothing(t *testing.T) {
	e := newEPEnv(t)
	stop := e.start(NewEndpointSliceController(e.deps()))
	for i := range 3 {
		name := fmt.Sprint("svc", i)
		e.service(httpService(name))
		for j := range 3 {
			pod := fmt.Sprintf("%s-%d", name, j)
			e.pod(pod, map[string]string{"app": name}, httpPort(8080))
			e.status(pod, fmt.Sprintf("10.244.%d.%d", i, j+1), j != 2)
		}
	}
	var rvs []string
	for i := range 3 {
		name := fmt.Sprint("svc", i)
		ss := e.waitSlices(name, fmt.Sprintf("http=8080: %[1]s-0 10.244.%[2]d.1 ready; %[1]s-1 10.244.%[2]d.2 ready; %[1]s-2 10.244.%[2]d.3 notready", name, i))
		rvs = append(rvs, ss[0].Name+"@"+ss[0].ResourceVersion)
	}
	stop()
	before := e.etcdRevision()

	c := NewEndpointSliceController(e.deps())
	e.start(c)
	// Each service is queued once at start (by its own replayed event and
	// its slice's, which fold into one).
	eventually(t, "the new controller to reconcile every service", func() (bool, string) {
		for _, k := range []string{"default/kubernetes", "default/svc0", "default/svc1", "default/svc2"} {
			if c.syncs.count(k) == 0 {
				return false, k + " not reconciled"
			}
		}
		return true, ""
	})
	// A repeated event changes nothing either.
	r := e.reg
	synced := c.syncs.count("default/svc0")
	if _, err := r.Update(e.ctx, registry.Services, "default", "svc0", "", func(cur store.Object) (store.Object, error) {
		cur.SetAnnotations(map[string]string{"touched": "yes"})
		cur.SetResourceVersion("")
		return cur, nil
	}, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	before++ // that update
	eventually(t, "the touched service to be reconciled", func() (bool, string) {
		return c.syncs.count("default/svc0") > synced, "not"
	})
	if after := e.etcdRevision(); after != before {
		t.Errorf("restarted controller wrote: etcd revision %d → %d", before, after)
	}
	for i := range 3 {
		ss := e.slices(fmt.Sprint("svc", i))
		if len(ss) != 1 || ss[0].Name+"@"+ss[0].ResourceVersion != rvs[i] {
			t.Errorf("svc%d: slices %v; want %s unchanged", i, ss, rvs[i])
		}
	}
}

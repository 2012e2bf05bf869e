package endpoints

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

// describeEndpoints reads subsets as sorted strings such as
// "http=8080: ready a b; notready c": the ports, then the pods (with
// "@hostname" if set) whose addresses are ready and not ready.
func describeEndpoints(ep *corev1.Endpoints) []string {
	out := []string{}
	names := func(as []corev1.EndpointAddress) string {
		var ns []string
		for _, a := range as {
			n := a.TargetRef.Name
			if a.Hostname != "" {
				n += "@" + a.Hostname
			}
			ns = append(ns, n)
		}
		sort.Strings(ns)
		return strings.Join(ns, " ")
	}
	for _, ss := range ep.Subsets {
		var ports []string
		for _, p := range ss.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", p.Name, p.Port))
		}
		sort.Strings(ports)
		d := strings.Join(ports, ",") + ":"
		if len(ss.Addresses) > 0 {
			d += " ready " + names(ss.Addresses)
		}
		if len(ss.NotReadyAddresses) > 0 {
			d += "; notready " + names(ss.NotReadyAddresses)
		}
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

func (e env) endpoints(name string) (*corev1.Endpoints, bool) {
	e.T.Helper()
	o, err := e.Reg.Store.Get(e.Ctx, registry.Endpoints.Resource, "default", name)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		e.T.Fatal(err)
	}
	return o.(*corev1.Endpoints), true
}

// waitEndpoints waits until the Endpoints name exist and read as want.
func (e env) waitEndpoints(name string, want ...string) *corev1.Endpoints {
	e.T.Helper()
	want = append([]string{}, want...)
	sort.Strings(want)
	var ep *corev1.Endpoints
	controllertest.Eventually(e.T, "endpoints "+name, func() (bool, string) {
		var ok bool
		if ep, ok = e.endpoints(name); !ok {
			return false, "missing"
		}
		got := describeEndpoints(ep)
		return slices.Equal(got, want), fmt.Sprintf("%q, want %q", got, want)
	})
	return ep
}

func (e env) waitEndpointsGone(name string) {
	e.T.Helper()
	controllertest.Eventually(e.T, "endpoints "+name+" to go", func() (bool, string) {
		_, ok := e.endpoints(name)
		return !ok, "there"
	})
}

func TestEndpointsSubsets(t *testing.T) {
	web := map[string]string{"app": "web"}
	threePods := func(e env) {
		e.CreatePod("a", web, controllertest.HTTPPort(8080))
		e.CreatePod("b", web, controllertest.HTTPPort(8080))
		e.CreatePod("c", web, controllertest.HTTPPort(8080))
		e.CreatePod("other", map[string]string{"app": "other"}, controllertest.HTTPPort(8080))
		e.SetPodStatus("a", "10.244.0.1", true)
		e.SetPodStatus("b", "10.244.0.2", true)
		e.SetPodStatus("c", "10.244.0.3", false)
		e.SetPodStatus("other", "10.244.0.4", true)
	}
	for _, c := range []struct {
		name string
		svc  *corev1.Service
		pods func(e env)
		want []string
	}{{
		name: "ready and not-ready addresses",
		svc:  controllertest.HTTPService("web"),
		pods: threePods,
		want: []string{"http=8080: ready a b; notready c"},
	}, {
		name: "publishNotReadyAddresses lists every pod as ready",
		svc: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: web, PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}},
		pods: threePods,
		want: []string{"http=8080: ready a b c"},
	}, {
		name: "pods whose named port differs are in different subsets; one without it in none",
		svc:  controllertest.HTTPService("web"),
		pods: func(e env) {
			e.CreatePod("x", web, controllertest.HTTPPort(8080))
			e.CreatePod("y", web, controllertest.HTTPPort(9090))
			e.CreatePod("z", web, nil)
			e.SetPodStatus("x", "10.244.0.1", true)
			e.SetPodStatus("y", "10.244.0.2", false)
			e.SetPodStatus("z", "10.244.0.3", true)
		},
		want: []string{"http=8080: ready x", "http=9090:; notready y"},
	}, {
		name: "multi-port service: ports with the same pods share a subset",
		svc: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Selector: web,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
				{Name: "metrics", Port: 9100, TargetPort: intstr.FromInt32(9100)},
			}}},
		pods: threePods,
		want: []string{"http=8080,metrics=9100: ready a b; notready c"},
	}, {
		name: "headless service without ports, with hostnames",
		svc: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"}}},
		pods: func(e env) {
			db := map[string]string{"app": "db"}
			e.CreatePod("db-0", db, nil, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" })
			e.CreatePod("db-1", db, nil)
			e.SetPodStatus("db-0", "10.244.0.1", true)
			e.SetPodStatus("db-1", "10.244.0.2", true)
		},
		want: []string{": ready db-0@db-0 db-1"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.start()
			svc := e.Service(c.svc)
			c.pods(e)
			ep := e.waitEndpoints(svc.Name, c.want...)
			want := endpointsLabels(svc)
			if !maps.Equal(ep.Labels, want) {
				t.Errorf("labels %v, want %v", ep.Labels, want)
			}
		})
	}
}

func TestEndpointsFollowPodsAndService(t *testing.T) {
	e := newEnv(t)
	// Left behind by a service deleted while no controller ran: it goes.
	if _, err := e.Reg.Create(e.Ctx, registry.Endpoints, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gone"}}, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Written by hand for a service without a selector: it stays.
	e.Service(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	hand, err := e.Reg.Create(e.Ctx, registry.Endpoints, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "legacy"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Name: "http", Port: 80}}}}},
		registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}

	stop := e.start()
	e.waitEndpointsGone("gone")
	e.Service(controllertest.HTTPService("web"))
	e.CreatePod("a", map[string]string{"app": "web"}, controllertest.HTTPPort(8080))
	e.CreatePod("b", map[string]string{"app": "web"}, controllertest.HTTPPort(8080))
	e.SetPodStatus("a", "10.244.0.1", true)
	e.SetPodStatus("b", "10.244.0.2", true)
	e.waitEndpoints("web", "http=8080: ready a b")
	e.SetPodStatus("a", "10.244.0.1", false)
	e.waitEndpoints("web", "http=8080: ready b; notready a")
	e.Relabel("b", map[string]string{"app": "other"})
	e.waitEndpoints("web", "http=8080:; notready a")

	// A restarted controller writes nothing.
	stop()
	before := e.EtcdRevision()
	syncs := countSyncs(t)
	e.start()
	controllertest.Eventually(t, "the new controller to reconcile every service", func() (bool, string) {
		for _, k := range []string{"default/kubernetes", "default/legacy", "default/web"} {
			if syncs.Get(k) == 0 {
				return false, k + " not reconciled"
			}
		}
		return true, ""
	})
	if after := e.EtcdRevision(); after != before {
		t.Errorf("restarted controller wrote: etcd revision %d → %d", before, after)
	}
	if ep, ok := e.endpoints("legacy"); !ok || ep.ResourceVersion != hand.Object.GetResourceVersion() {
		t.Errorf("hand-written endpoints of a service without selector: %v, want unchanged", ep)
	}

	e.Delete(registry.Services, "web")
	e.waitEndpointsGone("web")
	// Written for a service not created yet: left alone.
	if _, err := e.Reg.Create(e.Ctx, registry.Endpoints, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "early"}}, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	synced := syncs.Get("default/early")
	e.Service(controllertest.HTTPService("web2")) // something to wait for
	e.waitEndpoints("web2")
	if _, ok := e.endpoints("early"); !ok || syncs.Get("default/early") != synced {
		t.Errorf("endpoints written before their service were touched")
	}
}

// Subsets that mean the same thing compare equal whatever their order, and
// more than 1000 addresses are cut to 1000, ready ones kept first.
func TestRepackAndTruncateSubsets(t *testing.T) {
	addr := func(i int) corev1.EndpointAddress {
		return corev1.EndpointAddress{IP: fmt.Sprintf("10.244.%d.%d", i/250, i%250+1),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: fmt.Sprint("p", i), UID: types.UID(fmt.Sprint("u", i))}}
	}
	http := corev1.EndpointPort{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}
	metrics := corev1.EndpointPort{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP}
	a := []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr(2), addr(10)}, NotReadyAddresses: []corev1.EndpointAddress{addr(3)}, Ports: []corev1.EndpointPort{http}},
		{Addresses: []corev1.EndpointAddress{addr(10), addr(2)}, NotReadyAddresses: []corev1.EndpointAddress{addr(3)}, Ports: []corev1.EndpointPort{metrics}},
	}
	b := []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{addr(10), addr(2)}, NotReadyAddresses: []corev1.EndpointAddress{addr(3)},
		Ports: []corev1.EndpointPort{metrics, http},
	}}
	b[0].Addresses[0].TargetRef.ResourceVersion = "42"
	ra, rb := repackSubsets(a), repackSubsets(b)
	if !subsetsEqual(ra, rb) || len(ra) != 1 || ra[0].Addresses[0].IP != "10.244.0.3" {
		t.Fatalf("repacked:\n%+v\n%+v", ra, rb)
	}

	var big corev1.EndpointSubset
	for i := range 1200 {
		if i%2 == 0 {
			big.Addresses = append(big.Addresses, addr(i))
		} else {
			big.NotReadyAddresses = append(big.NotReadyAddresses, addr(i))
		}
	}
	subsets := []corev1.EndpointSubset{big}
	if !truncateSubsets(subsets) || len(subsets[0].Addresses) != 600 || len(subsets[0].NotReadyAddresses) != 400 {
		t.Fatalf("truncated to %d ready, %d not ready; want 600 and 400", len(subsets[0].Addresses), len(subsets[0].NotReadyAddresses))
	}
}

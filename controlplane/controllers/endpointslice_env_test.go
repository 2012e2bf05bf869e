package controllers

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/registry/registrytest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

// epEnv is a registry on a real embedded etcd with running caches.
type epEnv struct {
	t      *testing.T
	ctx    context.Context
	reg    *registry.Registry
	caches *store.Caches
}

func newEPEnv(t *testing.T) *epEnv {
	t.Helper()
	e := storetest.StartEtcd(t)
	reg := registrytest.New(t, e.Client(t), "")
	caches := store.NewCaches(reg.Store, nil)
	caches.Start(t.Context())
	return &epEnv{t: t, ctx: t.Context(), reg: reg, caches: caches}
}

// start runs ctrl until the returned stop is called (or the test ends).
func (e *epEnv) start(ctrl Controller) (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { ctrl.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	e.t.Cleanup(stop)
	return stop
}

func (e *epEnv) deps() Deps { return Deps{Registry: e.reg, Caches: e.caches} }

func (e *epEnv) service(svc *corev1.Service) *corev1.Service {
	e.t.Helper()
	if svc.Namespace == "" {
		svc.Namespace = "default"
	}
	res, err := e.reg.Create(e.ctx, registry.Services, svc, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("create service %s: %v", svc.Name, err)
	}
	return res.Object.(*corev1.Service)
}

func httpService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": "shop"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

// pod creates a pod; edit, if given, changes it first.
func (e *epEnv) pod(name string, lbls map[string]string, ports []corev1.ContainerPort, edit ...func(*corev1.Pod)) {
	e.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Command: []string{"/bin/app"}, Ports: ports}}},
	}
	for _, f := range edit {
		f(p)
	}
	if _, err := e.reg.Create(e.ctx, registry.Pods, p, registry.WriteOptions{}); err != nil {
		e.t.Fatalf("create pod %s: %v", name, err)
	}
}

func httpPort(n int32) []corev1.ContainerPort {
	return []corev1.ContainerPort{{Name: "http", ContainerPort: n}}
}

// status sets a pod running at ip, ready or not, through pods/status.
func (e *epEnv) status(name, ip string, ready bool) {
	e.t.Helper()
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	_, err := e.reg.Update(e.ctx, registry.Pods, "default", name, "status", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("set status of pod %s: %v", name, err)
	}
}

func (e *epEnv) relabel(name string, lbls map[string]string) {
	e.t.Helper()
	_, err := e.reg.Update(e.ctx, registry.Pods, "default", name, "", func(cur store.Object) (store.Object, error) {
		cur.SetLabels(lbls)
		cur.SetResourceVersion("")
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("relabel pod %s: %v", name, err)
	}
}

func (e *epEnv) delete(info *registry.Info, name string) {
	e.t.Helper()
	if _, err := e.reg.Delete(e.ctx, info, "default", name, nil, registry.WriteOptions{}); err != nil {
		e.t.Fatalf("delete %s %s: %v", info.Kind, name, err)
	}
}

// slices returns the slices labelled as service svc's, from etcd.
func (e *epEnv) slices(svc string) []*discoveryv1.EndpointSlice {
	e.t.Helper()
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc})
	list, err := e.reg.Store.List(e.ctx, registry.EndpointSlices.Resource, "default", store.ListOptions{Predicate: store.Predicate{Label: sel}})
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]*discoveryv1.EndpointSlice, len(list.Items))
	for i, o := range list.Items {
		out[i] = o.(*discoveryv1.EndpointSlice)
	}
	return out
}

// eventually polls cond until it holds or 15 s have passed.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s", what, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitSlices waits until service svc's slices read as want (see
// describeSlices) and returns them.
func (e *epEnv) waitSlices(svc string, want ...string) []*discoveryv1.EndpointSlice {
	e.t.Helper()
	sort.Strings(want)
	var ss []*discoveryv1.EndpointSlice
	eventually(e.t, "slices of "+svc, func() (bool, string) {
		ss = e.slices(svc)
		got := describeSlices(ss)
		return slices.Equal(got, want), fmt.Sprintf("%q, want %q", got, want)
	})
	return ss
}

// describeSlices reads slices as sorted strings such as
// "http=8080: a 10.0.0.1 ready; b 10.0.0.2 notready,serving": the ports,
// then each endpoint's pod, address, conditions and hostname.
func describeSlices(ss []*discoveryv1.EndpointSlice) []string {
	out := []string{}
	for _, s := range ss {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s=%d", *p.Name, *p.Port))
		}
		sort.Strings(ports)
		var eps []string
		for _, ep := range s.Endpoints {
			c := ep.Conditions
			var conds []string
			if *c.Ready {
				conds = append(conds, "ready")
			} else {
				conds = append(conds, "notready")
				if *c.Serving {
					conds = append(conds, "serving")
				}
			}
			if *c.Terminating {
				conds = append(conds, "terminating")
			}
			d := fmt.Sprintf("%s %s %s", ep.TargetRef.Name, strings.Join(ep.Addresses, ","), strings.Join(conds, ","))
			if ep.Hostname != nil {
				d += " host=" + *ep.Hostname
			}
			eps = append(eps, d)
		}
		sort.Strings(eps)
		out = append(out, strings.Join(ports, ",")+": "+strings.Join(eps, "; "))
	}
	sort.Strings(out)
	return out
}

// etcdRevision is the store's newest revision: it moves with any write.
func (e *epEnv) etcdRevision() int64 {
	e.t.Helper()
	resp, err := e.reg.Store.Client().Get(e.ctx, "/shoal-test-revision-probe")
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.Header.Revision
}

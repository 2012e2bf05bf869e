package apiserver_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// requestLog records the requests client-go makes, to tell the watch-list
// path from list+watch.
type requestLog struct {
	mu   sync.Mutex
	reqs []string // "CODE METHOD PATH?QUERY"
}

type loggingTransport struct {
	next http.RoundTripper
	log  *requestLog
}

func (l loggingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	l.log.mu.Lock()
	l.log.reqs = append(l.log.reqs, fmt.Sprintf("%d %s %s", code, r.Method, r.URL.RequestURI()))
	l.log.mu.Unlock()
	return resp, err
}

func (l *requestLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

// events records what an informer's handler is told, as "add ns/name".
type events chan string

func (e events) OnAdd(obj any, _ bool) { e.put("add", obj) }
func (e events) OnUpdate(_, obj any)   { e.put("update", obj) }
func (e events) OnDelete(obj any)      { e.put("delete", obj) }
func (e events) put(what string, o any) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	m, err := meta(o)
	if err != nil {
		e <- what + " " + err.Error()
		return
	}
	e <- what + " " + m.GetNamespace() + "/" + m.GetName()
}

func meta(o any) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", o)
	}
	return m, nil
}

// waitFor reads events until each of want has come, in any order (others,
// such as a relist's updates, are skipped).
func (e events) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	missing := slices.Clone(want)
	var seen []string
	for len(missing) > 0 {
		select {
		case got := <-e:
			if i := slices.Index(missing, got); i >= 0 {
				missing = slices.Delete(missing, i, i+1)
			}
			seen = append(seen, got)
		case <-deadline:
			t.Fatalf("informer handler was not told %q within 20s; it was told %q", missing, seen)
		}
	}
}

// TestInformer runs client-go's shared informers, as controllers and
// CoreDNS's kubernetes plugin do, on Services and EndpointSlices, and checks
// they sync, see every change, and stay in sync through an etcd restart.
func TestInformer(t *testing.T) {
	e := storetest.StartEtcd(t)
	a := startAPI(t, clustertest.Options{EtcdServers: []string{e.ClientURL}})
	a.createNamespace("inf")
	cfg := a.shoal.RESTConfig(t)
	reqs := &requestLog{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return loggingTransport{next: rt, log: reqs} })
	cs := clientset(t, cfg)
	ctx := t.Context()

	svcs, epSlices := cs.CoreV1().Services("inf"), cs.DiscoveryV1().EndpointSlices("inf")
	if _, err := svcs.Create(ctx, service("early"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	factory := informers.NewSharedInformerFactory(cs, 0)
	svcInf := factory.Core().V1().Services().Informer()
	sliceInf := factory.Discovery().V1().EndpointSlices().Informer()
	svcEvents, sliceEvents := make(events, 1000), make(events, 1000)
	svcInf.AddEventHandler(svcEvents)
	sliceInf.AddEventHandler(sliceEvents)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	syncCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for typ, ok := range factory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync; requests: %q", typ, reqs.all())
		}
	}
	svcEvents.waitFor(t, "add default/kubernetes", "add inf/early")
	checkSyncPath(t, reqs.all())

	// Changes before the restart.
	mustDo(t, "create svc a", func() error { _, err := svcs.Create(ctx, service("a"), metav1.CreateOptions{}); return err })
	mustDo(t, "create svc b", func() error { _, err := svcs.Create(ctx, service("b"), metav1.CreateOptions{}); return err })
	mustDo(t, "create slice a", func() error {
		_, err := epSlices.Create(ctx, slice("a", "10.1.0.1"), metav1.CreateOptions{})
		return err
	})
	svcEvents.waitFor(t, "add inf/a", "add inf/b")
	sliceEvents.waitFor(t, "add inf/a")
	mustDo(t, "label svc a", func() error { return labelService(ctx, svcs.Patch, "a", "1") })
	mustDo(t, "delete svc b", func() error { return svcs.Delete(ctx, "b", metav1.DeleteOptions{}) })
	mustDo(t, "delete svc early", func() error { return svcs.Delete(ctx, "early", metav1.DeleteOptions{}) })
	svcEvents.waitFor(t, "update inf/a", "delete inf/b", "delete inf/early")
	inSync(t, svcInf, sliceInf, cs.CoreV1().Services("").List, cs.DiscoveryV1().EndpointSlices("").List)

	e.Restart(t)

	// Changes after: retried until the API server reaches etcd again.
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	retry(wctx, t, "create svc c", func(ctx context.Context) error {
		_, err := svcs.Create(ctx, service("c"), metav1.CreateOptions{})
		return ignore(err, apierrors.IsAlreadyExists)
	})
	retry(wctx, t, "label svc a", func(ctx context.Context) error { return labelService(ctx, svcs.Patch, "a", "2") })
	retry(wctx, t, "delete slice a", func(ctx context.Context) error {
		return ignore(epSlices.Delete(ctx, "a", metav1.DeleteOptions{}), apierrors.IsNotFound)
	})
	retry(wctx, t, "create slice c", func(ctx context.Context) error {
		_, err := epSlices.Create(ctx, slice("c", "10.1.0.3"), metav1.CreateOptions{})
		return ignore(err, apierrors.IsAlreadyExists)
	})
	retry(wctx, t, "create svc d", func(ctx context.Context) error {
		_, err := svcs.Create(ctx, service("d"), metav1.CreateOptions{})
		return ignore(err, apierrors.IsAlreadyExists)
	})
	retry(wctx, t, "delete svc d", func(ctx context.Context) error {
		return ignore(svcs.Delete(ctx, "d", metav1.DeleteOptions{}), apierrors.IsNotFound)
	})
	svcEvents.waitFor(t, "add inf/c")
	sliceEvents.waitFor(t, "delete inf/a", "add inf/c")

	testenv.Eventually(t, 20*time.Second, "informer store equals the server's list", func() error {
		return inSyncErr(ctx, svcInf, sliceInf, cs.CoreV1().Services("").List, cs.DiscoveryV1().EndpointSlices("").List)
	})
	if got, _, _ := svcInf.GetStore().GetByKey("inf/a"); got == nil || got.(*corev1.Service).Labels["v"] != "2" {
		t.Errorf("informer has svc a as %v, want label v=2", got)
	}
}

// checkSyncPath checks the informers synced by the watch-list handshake, or
// tried it, were refused, and fell back to a list.
func checkSyncPath(t *testing.T, reqs []string) {
	t.Helper()
	var watchList, refused, lists int
	for _, r := range reqs {
		switch {
		case strings.Contains(r, "sendInitialEvents=true") && strings.HasPrefix(r, "200 "):
			watchList++
		case strings.Contains(r, "sendInitialEvents=true"):
			refused++
		case strings.HasPrefix(r, "200 GET") && !strings.Contains(r, "watch=true"):
			lists++
		}
	}
	t.Logf("informers synced with %d watch-list streams (%d refused) and %d lists", watchList, refused, lists)
	switch {
	case watchList >= 2:
		// Both informers used the watch-list handshake.
	case lists >= 2:
		// list + watch, possibly after the server refused the handshake.
	default:
		t.Errorf("informers synced by neither watch-list nor list: %q", reqs)
	}
}

type listFunc[L any] func(context.Context, metav1.ListOptions) (L, error)

func inSync(t *testing.T, svcInf, sliceInf cache.SharedIndexInformer, svcList listFunc[*corev1.ServiceList], sliceList listFunc[*discoveryv1.EndpointSliceList]) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "informer store equals the server's list", func() error {
		return inSyncErr(t.Context(), svcInf, sliceInf, svcList, sliceList)
	})
}

// inSyncErr compares each informer's store with a list from the server by
// name and resourceVersion.
func inSyncErr(ctx context.Context, svcInf, sliceInf cache.SharedIndexInformer, svcList listFunc[*corev1.ServiceList], sliceList listFunc[*discoveryv1.EndpointSliceList]) error {
	sl, err := svcList(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	el, err := sliceList(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	want := map[string]string{}
	for _, o := range sl.Items {
		want["svc "+o.Namespace+"/"+o.Name] = o.ResourceVersion
	}
	for _, o := range el.Items {
		want["slice "+o.Namespace+"/"+o.Name] = o.ResourceVersion
	}
	have := map[string]string{}
	for kind, inf := range map[string]cache.SharedIndexInformer{"svc": svcInf, "slice": sliceInf} {
		for _, o := range inf.GetStore().List() {
			m, _ := meta(o)
			have[kind+" "+m.GetNamespace()+"/"+m.GetName()] = m.GetResourceVersion()
		}
	}
	if !maps.Equal(have, want) {
		return fmt.Errorf("informer has %v, server lists %v", have, want)
	}
	return nil
}

func service(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
}

func slice(name, ip string) *discoveryv1.EndpointSlice {
	port, proto, portName := int32(8080), corev1.ProtocolTCP, "http"
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
	}
}

type patchFunc func(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) (*corev1.Service, error)

func labelService(ctx context.Context, patch patchFunc, name, v string) error {
	_, err := patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"v":"`+v+`"}}}`), metav1.PatchOptions{})
	return err
}

func ignore(err error, ok func(error) bool) error {
	if err != nil && ok(err) {
		return nil
	}
	return err
}

func mustDo(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

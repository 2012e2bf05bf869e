package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// settleTimeout bounds every wait for the controllers to act.
const settleTimeout = 20 * time.Second

// readyDelay is how long the simulated node agent takes to start a pod.
const readyDelay = 150 * time.Millisecond

// TestControllersDeployment drives a Deployment through kubectl: apply,
// scale, a rolling update watched pod by pod, rollout status and undo,
// describe, and delete.
func TestControllersDeployment(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	startKubeletSim(t, cs, readyDelay)

	k.ok(t, "apply", "-f", k.write(t, "app.yaml", appYAML(3, "app: web")))
	pods := waitReadyPods(t, cs, "x", "app=web", 3)
	waitDeploymentDone(t, cs, "x", "web")

	out, _ := k.ok(t, "get", "rs,po", "-n", "x")
	tables := parseKubectlTables(out)
	if len(tables) != 2 || len(tables[0].rows) != 1 || len(tables[1].rows) != 3 {
		t.Fatalf("kubectl get rs,po: want one ReplicaSet and three pods:\n%s", out)
	}
	rsName := tables[0].rows[0][0]
	if !strings.HasPrefix(rsName, "replicaset.apps/web-") {
		t.Fatalf("ReplicaSet %q is not named after the Deployment", rsName)
	}
	tables[0].check(t, "NAME DESIRED CURRENT READY AGE", rsName, map[string]string{"DESIRED": "3", "CURRENT": "3", "READY": "3"})
	for _, p := range pods {
		tables[1].check(t, "NAME READY STATUS RESTARTS AGE", "pod/"+p.Name, map[string]string{"READY": "1/1", "STATUS": "Running"})
		if !strings.HasPrefix("replicaset.apps/"+p.Name, rsName+"-") {
			t.Errorf("pod %s is not named after its ReplicaSet %s", p.Name, rsName)
		}
	}

	// The Service's slice lists the ready pods, its port resolved by name.
	waitSlice(t, cs, "x", "web", podIPs(pods), nil)
	out, _ = k.ok(t, "get", "endpointslices", "-n", "x", "-l", "kubernetes.io/service-name=web")
	tables = parseKubectlTables(out)
	if len(tables) != 1 || len(tables[0].rows) != 1 {
		t.Fatalf("kubectl get endpointslices: want one slice:\n%s", out)
	}
	slice := tables[0].rows[0][0]
	tables[0].check(t, "NAME ADDRESSTYPE PORTS ENDPOINTS AGE", slice, map[string]string{"ADDRESSTYPE": "IPv4", "PORTS": "8080"})
	if got := strings.Split(tables[0].cell(slice, "ENDPOINTS"), ","); !sameSet(got, podIPs(pods)) {
		t.Errorf("slice endpoints %q, want the pod IPs %q", got, podIPs(pods))
	}

	for _, n := range []int{5, 2} {
		out, _ = k.ok(t, "scale", "deploy", "web", "-n", "x", fmt.Sprint("--replicas=", n))
		wantKubectlLines(t, out, "deployment.apps/web scaled")
		waitReadyPods(t, cs, "x", "app=web", n)
		waitDeploymentDone(t, cs, "x", "web")
		if rs := replicaSets(t, cs, "x", "app=web"); len(rs) != 1 || *rs[0].Spec.Replicas != int32(n) {
			t.Fatalf("after scaling to %d: ReplicaSets %v, want one of %d", n, rsSizes(rs), n)
		}
	}
	original := replicaSets(t, cs, "x", "app=web")[0]

	// A template change rolls out; then undo rolls back to the original
	// ReplicaSet. The watch sees every pod's readiness throughout.
	d := getDeployment(t, cs, "x", "web")
	minReady := *d.Spec.Replicas - int32(maxUnavailable(t, d))
	w := watchReadiness(t, cs, "x", "app=web")

	out, _ = k.ok(t, "set", "image", "deploy/web", "-n", "x", "web=nginx:1.28")
	wantKubectlLines(t, out, "deployment.apps/web image updated")
	out, _ = k.ok(t, "rollout", "status", "deploy/web", "-n", "x", "--timeout=25s")
	if !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Errorf("rollout status printed:\n%s", out)
	}
	rsets := replicaSets(t, cs, "x", "app=web")
	if len(rsets) != 2 {
		t.Fatalf("after the rollout: ReplicaSets %v, want the original and a new one", rsSizes(rsets))
	}
	for _, rs := range rsets {
		img, want := rs.Spec.Template.Spec.Containers[0].Image, int32(0)
		if rs.Name != original.Name {
			want = 2
			if img != "nginx:1.28" {
				t.Errorf("new ReplicaSet %s runs %s, want nginx:1.28", rs.Name, img)
			}
		}
		if *rs.Spec.Replicas != want {
			t.Errorf("ReplicaSet %s (%s) has %d replicas, want %d", rs.Name, img, *rs.Spec.Replicas, want)
		}
	}
	for _, p := range waitReadyPods(t, cs, "x", "app=web", 2) {
		if img := p.Spec.Containers[0].Image; img != "nginx:1.28" {
			t.Errorf("pod %s runs %s after the rollout, want nginx:1.28", p.Name, img)
		}
	}

	out, _ = k.ok(t, "rollout", "undo", "deploy/web", "-n", "x")
	wantKubectlLines(t, out, "deployment.apps/web rolled back")
	k.ok(t, "rollout", "status", "deploy/web", "-n", "x", "--timeout=25s")
	if img := getDeployment(t, cs, "x", "web").Spec.Template.Spec.Containers[0].Image; img != "nginx:1.27" {
		t.Errorf("deployment template runs %s after undo, want nginx:1.27", img)
	}
	rsets = replicaSets(t, cs, "x", "app=web")
	if len(rsets) != 2 {
		t.Fatalf("after undo: ReplicaSets %v, want the same two", rsSizes(rsets))
	}
	for _, rs := range rsets {
		if want := map[bool]int32{true: 2, false: 0}[rs.Name == original.Name]; *rs.Spec.Replicas != want {
			t.Errorf("after undo ReplicaSet %s has %d replicas, want %d", rs.Name, *rs.Spec.Replicas, want)
		}
	}
	hash := original.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	for _, p := range waitReadyPods(t, cs, "x", "app=web", 2) {
		if p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
			t.Errorf("pod %s has template hash %s after undo, want the original %s", p.Name, p.Labels[appsv1.DefaultDeploymentUniqueLabelKey], hash)
		}
	}
	least, seen := w.stop()
	t.Logf("rollout and undo: %d pods became ready, never fewer than %d ready", seen, least)
	if least < int(minReady) {
		t.Errorf("ready pods fell to %d during the rollout, want at least replicas - maxUnavailable = %d", least, minReady)
	}
	if seen < 6 {
		t.Errorf("the watch saw %d pods ready, want the 2 before, 2 new and 2 rolled back", seen)
	}

	// What the controllers did shows in describe.
	describeShows(t, k, []string{"deploy", "web", "-n", "x"},
		`^\s+Normal\s+ScalingReplicaSet\s+.*Scaled up replica set `+regexp.QuoteMeta(original.Name)+` from 0 to 3$`,
		`^\s+Normal\s+ScalingReplicaSet\s+.*Scaled down replica set `+regexp.QuoteMeta(original.Name)+` from \d+ to 0$`)
	describeShows(t, k, []string{"rs", original.Name, "-n", "x"},
		`^\s+Normal\s+SuccessfulCreate\s+.*Created pod: `+regexp.QuoteMeta(original.Name)+`-\w+$`,
		`^\s+Normal\s+SuccessfulDelete\s+.*Deleted pod: `+regexp.QuoteMeta(original.Name)+`-\w+$`)

	// Deleting the Deployment removes its ReplicaSets and Pods.
	out, _ = k.ok(t, "delete", "deploy", "web", "-n", "x")
	wantKubectlLines(t, out, `deployment.apps "web" deleted`)
	testenv.Eventually(t, settleTimeout, "ReplicaSets and pods of the deleted Deployment gone", func() error {
		rs, err := cs.AppsV1().ReplicaSets("x").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		pods, err := cs.CoreV1().Pods("x").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(rs.Items)+len(pods.Items) > 0 {
			return fmt.Errorf("%d ReplicaSets and %d pods left", len(rs.Items), len(pods.Items))
		}
		return nil
	})
	waitSlice(t, cs, "x", "web", nil, nil)
}

// headlessYAML is a headless Service and two pods that name it as their
// subdomain, as a StatefulSet's would.
const headlessYAML = `apiVersion: v1
kind: Service
metadata: {name: db, namespace: x}
spec:
  clusterIP: None
  selector: {app: db}
  ports:
  - {name: pg, port: 5432, targetPort: pg}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: x, labels: {app: db}}
spec:
  hostname: db-0
  subdomain: db
  containers:
  - {name: pg, image: postgres:17, ports: [{name: pg, containerPort: 5433}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: x, labels: {app: db}}
spec:
  hostname: db-1
  subdomain: db
  containers:
  - {name: pg, image: postgres:17, ports: [{name: pg, containerPort: 5433}]}
`

// TestControllersEndpoints follows pods into and out of EndpointSlices by
// their labels, publishes a headless Service's hostnames, and deletes a
// whole namespace.
func TestControllersEndpoints(t *testing.T) {
	t.Parallel()
	s, k := startKubectl(t)
	cs := s.Clientset(t)
	startKubeletSim(t, cs, readyDelay)
	k.ok(t, "apply", "-f", k.write(t, "app.yaml", appYAML(3, "app: web")))
	k.ok(t, "apply", "-f", k.write(t, "headless.yaml", headlessYAML))

	pods := waitReadyPods(t, cs, "x", "app=web", 3)
	waitSlice(t, cs, "x", "web", podIPs(pods), nil)

	t.Run("headless", func(t *testing.T) {
		db := waitReadyPods(t, cs, "x", "app=db", 2)
		hosts := map[string]string{}
		for _, p := range db {
			hosts[p.Status.PodIP] = p.Name
		}
		waitSlice(t, cs, "x", "db", podIPs(db), hosts)
		out, _ := k.ok(t, "get", "endpointslices", "-n", "x", "-l", "kubernetes.io/service-name=db", "-o", "json")
		var l discoveryv1.EndpointSliceList
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("kubectl -o json: %v\n%s", err, out)
		}
		if len(l.Items) != 1 {
			t.Fatalf("%d slices for db, want 1", len(l.Items))
		}
		sl := l.Items[0]
		if p := sl.Ports; len(p) != 1 || *p[0].Name != "pg" || *p[0].Port != 5433 {
			t.Errorf("db slice ports %s, want pg 5433", jsonString(p))
		}
		if len(sl.Endpoints) != 2 {
			t.Fatalf("db slice endpoints %s, want two", jsonString(sl.Endpoints))
		}
		for _, ep := range sl.Endpoints {
			if ep.Hostname == nil || *ep.Hostname != hosts[ep.Addresses[0]] {
				t.Errorf("endpoint %s has hostname %s, want %s", ep.Addresses[0], jsonString(ep.Hostname), hosts[ep.Addresses[0]])
			}
		}
	})

	t.Run("label change", func(t *testing.T) {
		moved := pods[0]
		out, _ := k.ok(t, "label", "pod", moved.Name, "-n", "x", "app=other", "--overwrite")
		wantKubectlLines(t, out, "pod/"+moved.Name+" labeled")
		// The ReplicaSet lets the pod go and replaces it; the slice follows.
		now := waitReadyPods(t, cs, "x", "app=web", 3)
		if slices.Contains(podIPs(now), moved.Status.PodIP) {
			t.Fatalf("relabeled pod %s still selected", moved.Name)
		}
		waitSlice(t, cs, "x", "web", podIPs(now), nil)
		p, err := cs.CoreV1().Pods("x").Get(t.Context(), moved.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("relabeled pod: %v", err)
		}
		if ref := metav1.GetControllerOf(p); ref != nil {
			t.Errorf("relabeled pod is still controlled by %s %s", ref.Kind, ref.Name)
		}
	})

	t.Run("namespace deletion", func(t *testing.T) {
		out, _ := k.ok(t, "delete", "ns", "x")
		wantKubectlLines(t, out, `namespace "x" deleted`)
		ctx := t.Context()
		count := map[string]func() (int, error){
			"deployments": func() (int, error) {
				l, err := cs.AppsV1().Deployments("x").List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"replicasets": func() (int, error) {
				l, err := cs.AppsV1().ReplicaSets("x").List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"pods": func() (int, error) {
				l, err := cs.CoreV1().Pods("x").List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"services": func() (int, error) {
				l, err := cs.CoreV1().Services("x").List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"endpoints": func() (int, error) {
				l, err := cs.CoreV1().Endpoints("x").List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"endpointslices": func() (int, error) {
				l, err := cs.DiscoveryV1().EndpointSlices("x").List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"events": func() (int, error) {
				l, err := cs.CoreV1().Events("x").List(ctx, metav1.ListOptions{})
				for _, e := range l.Items {
					t.Logf("event %s %s %s %s %s", e.CreationTimestamp, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
				}
				return len(l.Items), err
			},
		}
		for kind, n := range count {
			if n, err := n(); err != nil || n != 0 {
				t.Errorf("%d %s left in deleted namespace x (err %v)", n, kind, err)
			}
		}
	})
}

// waitReadyPods waits until exactly n pods match selector, all ready, and
// returns them sorted by name.
func waitReadyPods(t *testing.T, cs kubernetes.Interface, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	testenv.Eventually(t, settleTimeout, fmt.Sprintf("%d ready pods %s", n, selector), func() error {
		l, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range l.Items {
			if podReady(&p) {
				ready++
			}
		}
		if len(l.Items) != n || ready != n {
			return fmt.Errorf("%d pods, %d ready", len(l.Items), ready)
		}
		pods = l.Items
		return nil
	})
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// rolloutTimeout bounds a rollout, which with real pods (shoal up's agent
// and containerd, a race-built binary on a loaded machine) takes much
// longer than the controllers alone.
const rolloutTimeout = 90 * time.Second

// waitDeploymentDone waits until the Deployment's status says it is rolled
// out, as `kubectl rollout status` decides it.
func waitDeploymentDone(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	testenv.Eventually(t, rolloutTimeout, "deployment "+name+" rolled out", func() error {
		d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st, want := d.Status, *d.Spec.Replicas
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.Replicas != want ||
			st.AvailableReplicas != want || st.ReadyReplicas != want {
			return fmt.Errorf("generation %d, status %s", d.Generation, jsonString(st))
		}
		return nil
	})
}

// waitSlice waits until the Service's EndpointSlices list exactly ips, all
// ready; with hostnames (address → hostname) set, with those hostnames.
func waitSlice(t *testing.T, cs kubernetes.Interface, ns, svc string, ips []string, hostnames map[string]string) {
	t.Helper()
	testenv.Eventually(t, settleTimeout, "endpoint slice of "+svc, func() error {
		l, err := cs.DiscoveryV1().EndpointSlices(ns).List(t.Context(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
		if err != nil {
			return err
		}
		var got []string
		for _, sl := range l.Items {
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
					return fmt.Errorf("endpoint %v not ready", ep.Addresses)
				}
				if h, ok := hostnames[ep.Addresses[0]]; ok && (ep.Hostname == nil || *ep.Hostname != h) {
					return fmt.Errorf("endpoint %v hostname %s, want %s", ep.Addresses, jsonString(ep.Hostname), h)
				}
				got = append(got, ep.Addresses...)
			}
		}
		if !sameSet(got, ips) {
			return fmt.Errorf("slices list %q, want %q", got, ips)
		}
		return nil
	})
}

// describeShows waits until kubectl describe prints a line matching each
// regexp: events are written asynchronously.
func describeShows(t *testing.T, k *kubectl, args []string, want ...string) {
	t.Helper()
	testenv.Eventually(t, settleTimeout, "kubectl describe "+strings.Join(args, " "), func() error {
		out, _ := k.ok(t, append([]string{"describe"}, args...)...)
		for _, re := range append([]string{`^Events:`}, want...) {
			if !regexp.MustCompile("(?m)" + re).MatchString(out) {
				return fmt.Errorf("no line matches %s in:\n%s", re, out)
			}
		}
		return nil
	})
}

func replicaSets(t *testing.T, cs kubernetes.Interface, ns, selector string) []appsv1.ReplicaSet {
	t.Helper()
	l, err := cs.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list replica sets: %v", err)
	}
	return l.Items
}

func rsSizes(rs []appsv1.ReplicaSet) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s=%d", r.Name, *r.Spec.Replicas))
	}
	return out
}

// maxUnavailable is the Deployment's maxUnavailable in pods, rounded down
// as the deployment controller rounds it.
func maxUnavailable(t *testing.T, d *appsv1.Deployment) int {
	t.Helper()
	n, err := intstr.GetScaledValueFromIntOrPercent(d.Spec.Strategy.RollingUpdate.MaxUnavailable, int(*d.Spec.Replicas), false)
	if err != nil {
		t.Fatalf("maxUnavailable: %v", err)
	}
	return n
}

func podIPs(pods []corev1.Pod) []string {
	var ips []string
	for _, p := range pods {
		ips = append(ips, p.Status.PodIP)
	}
	return ips
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// readinessWatch follows the readiness of the pods a selector matches,
// event by event in the order the API server reports them, and keeps the
// fewest ready at any moment.
type readinessWatch struct {
	mu    sync.Mutex
	ready map[string]bool // by uid
	seen  map[string]bool // pods ever ready, by uid
	// least counts from when the watch has caught up with the pods there
	// were (armed), not while it learns of them one by one.
	armed  bool
	least  int
	stopFn func()
}

func watchReadiness(t *testing.T, cs kubernetes.Interface, ns, selector string) *readinessWatch {
	t.Helper()
	w := &readinessWatch{ready: map[string]bool{}, seen: map[string]bool{}}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	inf := factory.Core().V1().Pods().Informer()
	set := func(obj any, deleted bool) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				p, _ = tomb.Obj.(*corev1.Pod)
			}
		}
		if p == nil {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if deleted || !podReady(p) {
			delete(w.ready, string(p.UID))
		} else {
			w.ready[string(p.UID)] = true
			w.seen[string(p.UID)] = true
		}
		if w.armed {
			w.least = min(w.least, len(w.ready))
		}
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { set(obj, false) },
		UpdateFunc: func(_, obj any) { set(obj, false) },
		DeleteFunc: func(obj any) { set(obj, true) },
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	var once sync.Once
	w.stopFn = func() {
		once.Do(func() {
			close(stop)
			factory.Shutdown()
		})
	}
	t.Cleanup(w.stopFn)
	if !cache.WaitForCacheSync(t.Context().Done(), reg.HasSynced) {
		t.Fatal("readiness watch did not sync")
	}
	w.mu.Lock()
	w.armed, w.least = true, len(w.ready)
	w.mu.Unlock()
	return w
}

// stop ends the watch and returns the fewest pods that were ready at once
// and how many pods it saw ready.
func (w *readinessWatch) stop() (least, seen int) {
	w.stopFn()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.least, len(w.seen)
}

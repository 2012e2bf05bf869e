package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/registry/registrytest"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

// appsEnv is a registry on a real embedded etcd, the test's own caches (for
// watchers and the readiness a node agent would report) and the
// Deployment, ReplicaSet and garbage collector controllers, which run on
// caches of their own so that a test can restart them.
type appsEnv struct {
	t      *testing.T
	etcd   *storetest.Etcd
	ctx    context.Context
	reg    *registry.Registry
	caches *store.Caches
	rec    *Recorder
	podIP  atomic.Int32
}

func newAppsEnv(t *testing.T) *appsEnv {
	t.Helper()
	etcd := storetest.StartEtcd(t)
	reg := registrytest.New(t, etcd.Client(t), "")
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	caches := store.NewCaches(reg.Store, nil)
	caches.Start(ctx)
	rec := NewRecorder(reg, "controller-manager", slog.New(slog.DiscardHandler))
	go rec.Run(ctx)
	return &appsEnv{t: t, etcd: etcd, ctx: ctx, reg: reg, caches: caches, rec: rec}
}

// startControllers runs new instances of the three controllers on fresh
// caches; stop cancels them and waits until they have returned.
func (e *appsEnv) startControllers() (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	caches := store.NewCaches(e.reg.Store, nil)
	caches.Start(ctx)
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d := Deps{Registry: e.reg, Caches: caches, Events: e.rec, Log: log}
	done := make(chan struct{})
	go func() {
		Run(ctx, NewReplicaSetController(d), NewDeploymentController(d), NewGarbageCollector(d))
		close(done)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	e.t.Cleanup(stop)
	return stop
}

func appsDeployment(name string, replicas int32, edit ...func(*appsv1.Deployment)) *appsv1.Deployment {
	lbls := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Command: []string{"/bin/sleep", "3600"}, Env: []corev1.EnvVar{{Name: "VERSION", Value: "1"}},
				}}},
			},
		},
	}
	for _, f := range edit {
		f(d)
	}
	return d
}

// rollingUpdate sets the strategy to RollingUpdate with surge and unavailable.
func rollingUpdate(surge, unavailable string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		s, u := intstr.Parse(surge), intstr.Parse(unavailable)
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}}
	}
}

// version sets the template's VERSION: a new template.
func version(v string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Env[0].Value = v }
}

func (e *appsEnv) create(info *registry.Info, obj store.Object) store.Object {
	e.t.Helper()
	res, err := e.reg.Create(e.ctx, info, obj, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("create %s %s: %v", info.Kind, obj.GetName(), err)
	}
	return res.Object
}

// updateDeployment changes the Deployment as kubectl would (apply, scale,
// rollout undo all write the object).
func (e *appsEnv) updateDeployment(name string, edit ...func(*appsv1.Deployment)) *appsv1.Deployment {
	e.t.Helper()
	res, err := e.reg.Update(e.ctx, registry.Deployments, "default", name, "", func(cur store.Object) (store.Object, error) {
		d := cur.(*appsv1.Deployment)
		for _, f := range edit {
			f(d)
		}
		d.ResourceVersion = ""
		return d, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("update deployment %s: %v", name, err)
	}
	return res.Object.(*appsv1.Deployment)
}

func replicas(n int32) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Replicas = &n }
}

func (e *appsEnv) deployment(name string) *appsv1.Deployment {
	e.t.Helper()
	o, err := e.reg.Store.Get(e.ctx, registry.Deployments.Resource, "default", name)
	if err != nil {
		e.t.Fatalf("get deployment %s: %v", name, err)
	}
	return o.(*appsv1.Deployment)
}

// replicaSets is the stored ReplicaSets labelled app=app, by name.
func (e *appsEnv) replicaSets(app string) map[string]*appsv1.ReplicaSet {
	e.t.Helper()
	out := map[string]*appsv1.ReplicaSet{}
	for _, o := range e.list(registry.ReplicaSets, app) {
		out[o.GetName()] = o.(*appsv1.ReplicaSet)
	}
	return out
}

// pods is the stored pods labelled app=app.
func (e *appsEnv) pods(app string) []*corev1.Pod {
	e.t.Helper()
	return asPods(e.list(registry.Pods, app))
}

func (e *appsEnv) list(info *registry.Info, app string) []store.Object {
	e.t.Helper()
	res, err := e.reg.Store.List(e.ctx, info.Resource, "default", store.ListOptions{
		Predicate: store.Predicate{Label: labels.SelectorFromSet(labels.Set{"app": app})}})
	if err != nil {
		e.t.Fatalf("list %s: %v", info.Name, err)
	}
	return res.Items
}

// markReady reports pod running and ready, as its node agent would.
func (e *appsEnv) markReady(pod *corev1.Pod) error {
	n := e.podIP.Add(1)
	ip := fmt.Sprintf("10.244.%d.%d", n/250, 1+n%250)
	_, err := e.reg.Update(e.ctx, registry.Pods, pod.Namespace, pod.Name, "status", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID != pod.UID {
			return nil, errClaimGone
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	return err
}

// markAllReady marks every pod of app ready.
func (e *appsEnv) markAllReady(app string) {
	e.t.Helper()
	for _, p := range e.pods(app) {
		if ready, _ := rsPodReady(p); !ready {
			if err := e.markReady(p); err != nil && !apierrors.IsNotFound(err) {
				e.t.Fatalf("mark %s ready: %v", p.Name, err)
			}
		}
	}
}

// autoReady marks every pod that appears ready after delay, as a node
// agent starting it would, until the test ends.
func (e *appsEnv) autoReady(delay time.Duration) {
	unsubscribe := e.caches.For(registry.Pods.Resource).Subscribe(func(ev store.Event) {
		if ev.Type != watch.Added {
			return
		}
		pod := ev.Object.(*corev1.Pod)
		if ready, _ := rsPodReady(pod); ready || pod.DeletionTimestamp != nil {
			return
		}
		time.AfterFunc(delay, func() {
			// A kubelet retries: etcd may be restarting (tests do that
			// mid-rollout). The pod may also be gone by then.
			for range 120 {
				if e.ctx.Err() != nil {
					return
				}
				err := e.markReady(pod)
				if err == nil || errors.Is(err, errClaimGone) || apierrors.IsNotFound(err) {
					return
				}
				time.Sleep(250 * time.Millisecond)
			}
		})
	})
	e.t.Cleanup(unsubscribe)
}

// eventuallyApps polls cond until it holds, failing the test with its last
// explanation after a deadline.
func eventuallyApps(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rolledOut reports what `kubectl rollout status` waits for.
func rolledOut(d *appsv1.Deployment) (bool, string) {
	st := d.Status
	want := *d.Spec.Replicas
	switch {
	case d.Generation > st.ObservedGeneration:
		return false, fmt.Sprintf("observedGeneration %d < generation %d", st.ObservedGeneration, d.Generation)
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d updated replicas", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
	}
	return true, ""
}

func (e *appsEnv) waitRolledOut(name string) *appsv1.Deployment {
	e.t.Helper()
	var d *appsv1.Deployment
	eventuallyApps(e.t, "deployment "+name+" rolled out", func() (bool, string) {
		d = e.deployment(name)
		return rolledOut(d)
	})
	return d
}

// waitReplicaSets waits until app's ReplicaSets are exactly those given as
// "revision:replicas", in revision order, and their pods are all there.
func (e *appsEnv) waitReplicaSets(app string, want ...string) []*appsv1.ReplicaSet {
	e.t.Helper()
	var out []*appsv1.ReplicaSet
	eventuallyApps(e.t, fmt.Sprintf("replica sets of %s at %v", app, want), func() (bool, string) {
		out = out[:0]
		for _, rs := range e.replicaSets(app) {
			out = append(out, rs)
		}
		byRevision(out)
		got := make([]string, len(out))
		var total int32
		for i, rs := range out {
			got[i] = fmt.Sprintf("%s:%d", rs.Annotations[revisionAnnotation], *rs.Spec.Replicas)
			total += *rs.Spec.Replicas
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			var pods []string
			for _, p := range e.pods(app) {
				ready, _ := rsPodReady(p)
				pods = append(pods, fmt.Sprintf("%s(ready=%v)", p.Name, ready))
			}
			evs, _ := e.reg.Store.List(e.ctx, registry.Events.Resource, "default", store.ListOptions{})
			for _, o := range evs.Items {
				ev := o.(*corev1.Event)
				pods = append(pods, ev.InvolvedObject.Name+": "+ev.Message)
			}
			return false, fmt.Sprintf("revision:replicas %v; pods %v", got, pods)
		}
		if n := len(e.pods(app)); int32(n) != total {
			return false, fmt.Sprintf("%d pods, want %d", n, total)
		}
		return true, ""
	})
	return out
}

func byRevision(rsets []*appsv1.ReplicaSet) {
	for i := 1; i < len(rsets); i++ {
		for j := i; j > 0 && revisionOf(rsets[j]) < revisionOf(rsets[j-1]); j-- {
			rsets[j], rsets[j-1] = rsets[j-1], rsets[j]
		}
	}
}

// events is the stored events about obj with reason.
func (e *appsEnv) events(obj store.Object, reason string) []string {
	e.t.Helper()
	res, err := e.reg.Store.List(e.ctx, registry.Events.Resource, obj.GetNamespace(), store.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, o := range res.Items {
		ev := o.(*corev1.Event)
		if ev.InvolvedObject.UID == obj.GetUID() && ev.Reason == reason {
			out = append(out, ev.Message)
		}
	}
	return out
}

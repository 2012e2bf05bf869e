package deployment

import (
	"errors"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/controllers/gc"
	"github.com/shoalmesh/shoal/controlplane/controllers/replicaset"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// env is a registry on a real embedded etcd, the test's own caches (for
// watchers and the readiness a node agent would report) and the
// Deployment, ReplicaSet and garbage collector controllers, which run on
// caches of their own so that a test can restart them.
type env struct{ *controllertest.Env }

func newEnv(t *testing.T) env { return env{controllertest.New(t)} }

// startControllers runs new instances of the three controllers on fresh
// caches; stop cancels them and waits until they have returned.
func (e env) startControllers() (stop func()) {
	return e.Start(func(d controller.Deps) []controller.Controller {
		return []controller.Controller{replicaset.New(d), New(d), gc.New(d)}
	})
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

// updateDeployment changes the Deployment as kubectl would (apply, scale,
// rollout undo all write the object).
func (e env) updateDeployment(name string, edit ...func(*appsv1.Deployment)) *appsv1.Deployment {
	e.T.Helper()
	res, err := e.Reg.Update(e.Ctx, registry.Deployments, "default", name, "", func(cur store.Object) (store.Object, error) {
		d := cur.(*appsv1.Deployment)
		for _, f := range edit {
			f(d)
		}
		d.ResourceVersion = ""
		return d, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.T.Fatalf("update deployment %s: %v", name, err)
	}
	return res.Object.(*appsv1.Deployment)
}

func replicas(n int32) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Replicas = &n }
}

func (e env) deployment(name string) *appsv1.Deployment {
	e.T.Helper()
	o, err := e.Reg.Store.Get(e.Ctx, registry.Deployments.Resource, "default", name)
	if err != nil {
		e.T.Fatalf("get deployment %s: %v", name, err)
	}
	return o.(*appsv1.Deployment)
}

// markAllReady marks every pod of app ready.
func (e env) markAllReady(app string) {
	e.T.Helper()
	for _, p := range e.Pods(app) {
		if ready, _ := replicaset.PodReady(p); !ready {
			if err := e.MarkReady(p); err != nil && !apierrors.IsNotFound(err) {
				e.T.Fatalf("mark %s ready: %v", p.Name, err)
			}
		}
	}
}

// autoReady marks every pod that appears ready after delay, as a node
// agent starting it would, until the test ends.
func (e env) autoReady(delay time.Duration) {
	unsubscribe := e.Caches.For(registry.Pods.Resource).Subscribe(func(ev store.Event) {
		if ev.Type != watch.Added {
			return
		}
		pod := ev.Object.(*corev1.Pod)
		if ready, _ := replicaset.PodReady(pod); ready || pod.DeletionTimestamp != nil {
			return
		}
		time.AfterFunc(delay, func() {
			// A kubelet retries: etcd may be restarting (tests do that
			// mid-rollout). The pod may also be gone by then.
			for range 120 {
				if e.Ctx.Err() != nil {
					return
				}
				err := e.MarkReady(pod)
				if err == nil || errors.Is(err, controller.ErrClaimGone) || apierrors.IsNotFound(err) {
					return
				}
				time.Sleep(250 * time.Millisecond)
			}
		})
	})
	e.T.Cleanup(unsubscribe)
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

func (e env) waitRolledOut(name string) *appsv1.Deployment {
	e.T.Helper()
	var d *appsv1.Deployment
	controllertest.Eventually(e.T, "deployment "+name+" rolled out", func() (bool, string) {
		d = e.deployment(name)
		return rolledOut(d)
	})
	return d
}

// waitReplicaSets waits until app's ReplicaSets are exactly those given as
// "revision:replicas", in revision order, and their pods are all there.
func (e env) waitReplicaSets(app string, want ...string) []*appsv1.ReplicaSet {
	e.T.Helper()
	var out []*appsv1.ReplicaSet
	controllertest.Eventually(e.T, fmt.Sprintf("replica sets of %s at %v", app, want), func() (bool, string) {
		out = out[:0]
		for _, rs := range e.ReplicaSets(app) {
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
			for _, p := range e.Pods(app) {
				ready, _ := replicaset.PodReady(p)
				pods = append(pods, fmt.Sprintf("%s(ready=%v)", p.Name, ready))
			}
			evs, _ := e.Reg.Store.List(e.Ctx, registry.Events.Resource, "default", store.ListOptions{})
			for _, o := range evs.Items {
				ev := o.(*corev1.Event)
				pods = append(pods, ev.InvolvedObject.Name+": "+ev.Message)
			}
			return false, fmt.Sprintf("revision:replicas %v; pods %v", got, pods)
		}
		if n := len(e.Pods(app)); int32(n) != total {
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

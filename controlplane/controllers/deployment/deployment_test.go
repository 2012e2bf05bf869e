package deployment

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controllers/controllertest"
	"github.com/shoalmesh/shoal/controlplane/controllers/replicaset"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

const hashLabel = appsv1.DefaultDeploymentUniqueLabelKey

func TestDeploymentCreatesReplicaSetAndPods(t *testing.T) {
	e := newEnv(t)
	e.startControllers()
	d := e.Create(registry.Deployments, controllertest.Deployment("web", 3)).(*appsv1.Deployment)

	rs := e.waitReplicaSets("web", "1:3")[0]
	hash := podTemplateHash(&d.Spec.Template, nil)
	wantLabels := map[string]string{"app": "web", hashLabel: hash}
	if rs.Name != "web-"+hash || !maps.Equal(rs.Labels, wantLabels) ||
		!maps.Equal(rs.Spec.Selector.MatchLabels, wantLabels) || !maps.Equal(rs.Spec.Template.Labels, wantLabels) {
		t.Fatalf("replica set %s labels %v selector %v template labels %v; want web-%s and %v everywhere",
			rs.Name, rs.Labels, rs.Spec.Selector.MatchLabels, rs.Spec.Template.Labels, hash, wantLabels)
	}
	checkControllerRef(t, rs, d.UID, "Deployment", d.Name)
	for k, v := range map[string]string{revisionAnnotation: "1", desiredReplicasAnnotation: "3", maxReplicasAnnotation: "4"} {
		if rs.Annotations[k] != v {
			t.Errorf("replica set annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	pods := e.Pods("web")
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, rs.Name+"-") || len(p.Name) != len(rs.Name)+6 || !maps.Equal(p.Labels, wantLabels) {
			t.Errorf("pod %s labels %v; want %s-<5 random> with %v", p.Name, p.Labels, rs.Name, wantLabels)
		}
		checkControllerRef(t, p, rs.UID, "ReplicaSet", rs.Name)
	}

	e.markAllReady("web")
	got := e.waitRolledOut("web")
	want := appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	got.Status.Conditions, want.Conditions = nil, nil
	if fmt.Sprint(got.Status) != fmt.Sprint(want) {
		t.Errorf("status %+v, want %+v", got.Status, want)
	}
	controllertest.Eventually(t, "conditions", func() (bool, string) {
		d := e.deployment("web")
		av := deploymentCondition(d.Status, appsv1.DeploymentAvailable)
		pr := deploymentCondition(d.Status, appsv1.DeploymentProgressing)
		ok := av != nil && av.Status == corev1.ConditionTrue && av.Reason == reasonMinimumAvailable &&
			pr != nil && pr.Status == corev1.ConditionTrue && pr.Reason == reasonNewRSAvailable &&
			pr.Message == fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs.Name) &&
			d.Annotations[revisionAnnotation] == "1"
		return ok, fmt.Sprintf("conditions %+v, annotations %v", d.Status.Conditions, d.Annotations)
	})
	controllertest.Eventually(t, "replica set status", func() (bool, string) {
		rs := e.ReplicaSets("web")[rs.Name]
		st := rs.Status
		return st.Replicas == 3 && st.ReadyReplicas == 3 && st.AvailableReplicas == 3 && st.FullyLabeledReplicas == 3 &&
			st.ObservedGeneration == rs.Generation, fmt.Sprintf("%+v", st)
	})
	controllertest.Eventually(t, "events", func() (bool, string) {
		scaled := e.Events(d, "ScalingReplicaSet")
		created := e.Events(rs, "SuccessfulCreate")
		wantScaled := fmt.Sprintf("Scaled up replica set %s from 0 to 3", rs.Name)
		return slices.Contains(scaled, wantScaled) && len(created) == 3 && strings.HasPrefix(created[0], "Created pod: "+rs.Name+"-"),
			fmt.Sprintf("ScalingReplicaSet %q, SuccessfulCreate %q", scaled, created)
	})
}

func checkControllerRef(t *testing.T, o metav1.Object, uid any, kind, name string) {
	t.Helper()
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.UID != uid || ref.Kind != kind || ref.Name != name || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("%s: controller reference %+v, want %s %s (uid %v) with blockOwnerDeletion", o.GetName(), ref, kind, name, uid)
	}
}

func TestDeploymentScale(t *testing.T) {
	e := newEnv(t)
	e.autoReady(10 * time.Millisecond)
	e.startControllers()
	d := e.Create(registry.Deployments, controllertest.Deployment("web", 3)).(*appsv1.Deployment)
	rs := e.waitReplicaSets("web", "1:3")[0]
	e.waitRolledOut("web")
	for _, n := range []int32{5, 2} {
		e.updateDeployment("web", replicas(n))
		if got := e.waitReplicaSets("web", fmt.Sprintf("1:%d", n)); got[0].Name != rs.Name {
			t.Fatalf("scaling made a new replica set %s", got[0].Name)
		}
		e.waitRolledOut("web")
	}
	controllertest.Eventually(t, "scaling events", func() (bool, string) {
		got := e.Events(d, "ScalingReplicaSet")
		return slices.Contains(got, fmt.Sprintf("Scaled up replica set %s from 3 to 5", rs.Name)) &&
			slices.Contains(got, fmt.Sprintf("Scaled down replica set %s from 5 to 2", rs.Name)), fmt.Sprint(got)
	})
}

// podWatch follows app's pods through the test's own cache, in revision
// order, as a watching client would.
type podWatch struct {
	mu       sync.Mutex
	active   map[string]*corev1.Pod
	armed    bool
	minReady int
	mixed    bool           // pods of two templates existed at once (after arm)
	created  map[string]int // pods created (after arm) by template hash
}

func (e env) watchPods(app string) *podWatch {
	w := &podWatch{active: map[string]*corev1.Pod{}, minReady: math.MaxInt, created: map[string]int{}}
	unsubscribe := e.Caches.For(registry.Pods.Resource).Subscribe(func(ev store.Event) {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || p.Labels["app"] != app {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if ev.Type == watch.Added && w.armed {
			w.created[p.Labels[hashLabel]]++
		}
		if ev.Type == watch.Deleted || !replicaset.PodActive(p) {
			delete(w.active, p.Name)
		} else {
			w.active[p.Name] = p
		}
		if !w.armed {
			return
		}
		hashes := map[string]bool{}
		ready := 0
		for _, p := range w.active {
			hashes[p.Labels[hashLabel]] = true
			if r, _ := replicaset.PodReady(p); r {
				ready++
			}
		}
		w.minReady = min(w.minReady, ready)
		w.mixed = w.mixed || len(hashes) > 1
	})
	e.T.Cleanup(unsubscribe)
	return w
}

// arm starts the checks once the watcher sees n ready pods.
func (w *podWatch) arm(t *testing.T, n int) {
	controllertest.Eventually(t, fmt.Sprintf("watcher sees %d ready pods", n), func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		ready := 0
		for _, p := range w.active {
			if r, _ := replicaset.PodReady(p); r {
				ready++
			}
		}
		if ready == n {
			w.armed = true
		}
		return w.armed, fmt.Sprintf("%d ready", ready)
	})
}

func (w *podWatch) results() (minReady int, mixed bool, created map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.minReady, w.mixed, maps.Clone(w.created)
}

func TestDeploymentRollingUpdateKeepsAvailability(t *testing.T) {
	e := newEnv(t)
	e.autoReady(50 * time.Millisecond)
	e.startControllers()
	e.Create(registry.Deployments, controllertest.Deployment("web", 3, rollingUpdate("1", "0")))
	e.waitReplicaSets("web", "1:3")
	e.waitRolledOut("web")
	w := e.watchPods("web")
	w.arm(t, 3)

	d := e.updateDeployment("web", version("2"))
	rsets := e.waitReplicaSets("web", "1:0", "2:3")
	e.waitRolledOut("web")
	minReady, _, created := w.results()
	if minReady < 3 {
		t.Errorf("ready pods fell to %d during the rollout; maxUnavailable 0 allows none fewer than 3", minReady)
	}
	newHash := podTemplateHash(&d.Spec.Template, nil)
	if rsets[1].Name != "web-"+newHash || rsets[1].Annotations[revisionAnnotation] != "2" || rsets[0].Annotations[revisionAnnotation] != "1" {
		t.Errorf("replica sets %s (revision %s), %s (revision %s); want the new web-%s at revision 2",
			rsets[0].Name, rsets[0].Annotations[revisionAnnotation], rsets[1].Name, rsets[1].Annotations[revisionAnnotation], newHash)
	}
	if created[newHash] != 3 || len(created) != 1 {
		t.Errorf("pods created during the rollout by template: %v; want 3 of %s only", created, newHash)
	}
	for _, p := range e.Pods("web") {
		if p.Labels[hashLabel] != newHash {
			t.Errorf("pod %s of the old template left", p.Name)
		}
	}
	controllertest.Eventually(t, "deployment revision", func() (bool, string) {
		got := e.deployment("web").Annotations[revisionAnnotation]
		return got == "2", got
	})
}

func TestDeploymentRecreate(t *testing.T) {
	e := newEnv(t)
	e.autoReady(20 * time.Millisecond)
	e.startControllers()
	e.Create(registry.Deployments, controllertest.Deployment("web", 2, func(d *appsv1.Deployment) {
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}))
	e.waitReplicaSets("web", "1:2")
	e.waitRolledOut("web")
	w := e.watchPods("web")
	w.arm(t, 2)

	e.updateDeployment("web", version("2"))
	e.waitReplicaSets("web", "1:0", "2:2")
	e.waitRolledOut("web")
	if _, mixed, created := w.results(); mixed || len(created) != 1 {
		t.Errorf("old and new pods existed at once (%v created); Recreate removes the old first", created)
	}
}

func TestDeploymentRollback(t *testing.T) {
	e := newEnv(t)
	e.autoReady(10 * time.Millisecond)
	e.startControllers()
	e.Create(registry.Deployments, controllertest.Deployment("web", 3))
	first := e.waitReplicaSets("web", "1:3")[0]
	e.waitRolledOut("web")
	e.updateDeployment("web", version("2"))
	e.waitReplicaSets("web", "1:0", "2:3")
	e.waitRolledOut("web")

	// kubectl rollout undo: the previous revision's template, without its hash.
	tmpl := first.Spec.Template.DeepCopy()
	delete(tmpl.Labels, hashLabel)
	e.updateDeployment("web", func(d *appsv1.Deployment) { d.Spec.Template = *tmpl })
	rsets := e.waitReplicaSets("web", "2:0", "3:3")
	e.waitRolledOut("web")
	back := rsets[1]
	if back.Name != first.Name || back.Annotations[revisionAnnotation] != "3" || back.Annotations[revisionHistoryAnnotation] != "1" {
		t.Errorf("rolled back to %s at revision %s (history %q); want %s at revision 3 with history 1",
			back.Name, back.Annotations[revisionAnnotation], back.Annotations[revisionHistoryAnnotation], first.Name)
	}
	controllertest.Eventually(t, "deployment revision 3", func() (bool, string) {
		got := e.deployment("web").Annotations[revisionAnnotation]
		return got == "3", got
	})
}

func TestDeploymentRevisionHistoryLimit(t *testing.T) {
	e := newEnv(t)
	e.autoReady(10 * time.Millisecond)
	e.startControllers()
	e.Create(registry.Deployments, controllertest.Deployment("web", 2, func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = new(int32(1)) }))
	e.waitReplicaSets("web", "1:2")
	e.waitRolledOut("web")
	e.updateDeployment("web", version("2"))
	e.waitReplicaSets("web", "1:0", "2:2")
	e.waitRolledOut("web")
	e.updateDeployment("web", version("3"))
	// Revision 1 goes; 2 stays as the one old revision kept.
	rsets := e.waitReplicaSets("web", "2:0", "3:2")
	if rsets[0].Annotations[revisionAnnotation] != "2" || rsets[1].Annotations[revisionAnnotation] != "3" {
		t.Errorf("kept revisions %s and %s, want 2 and 3", rsets[0].Annotations[revisionAnnotation], rsets[1].Annotations[revisionAnnotation])
	}
}

func TestDeploymentControllersRestartedMidRolloutFinishWithoutDuplicatingPods(t *testing.T) {
	e := newEnv(t)
	e.autoReady(80 * time.Millisecond)
	stop := e.startControllers()
	e.Create(registry.Deployments, controllertest.Deployment("web", 4, rollingUpdate("1", "0")))
	e.waitReplicaSets("web", "1:4")
	e.waitRolledOut("web")
	w := e.watchPods("web")
	w.arm(t, 4)

	d := e.updateDeployment("web", version("2"))
	newHash := podTemplateHash(&d.Spec.Template, nil)
	// Restart at once (a quick repeat), then again mid-way.
	stop()
	stop = e.startControllers()
	controllertest.Eventually(t, "rollout under way", func() (bool, string) {
		n := 0
		for _, p := range e.Pods("web") {
			if p.Labels[hashLabel] == newHash {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%d new pods", n)
	})
	stop()
	e.startControllers()

	e.waitReplicaSets("web", "1:0", "2:4")
	e.waitRolledOut("web")
	pods := e.Pods("web")
	if len(pods) != 4 {
		t.Fatalf("%d pods, want 4", len(pods))
	}
	if _, _, created := w.results(); created[newHash] != 4 || len(created) != 1 {
		t.Errorf("pods created during the rollout by template: %v; want exactly 4 of %s", created, newHash)
	}
}

// The controllers' caches resume after etcd restarts mid-rollout, and the
// rollout finishes without a pod created twice.
func TestDeploymentSurvivesEtcdRestartMidRollout(t *testing.T) {
	e := newEnv(t)
	e.autoReady(50 * time.Millisecond)
	e.startControllers()
	e.Create(registry.Deployments, controllertest.Deployment("web", 3, rollingUpdate("1", "0")))
	e.waitReplicaSets("web", "1:3")
	e.waitRolledOut("web")
	w := e.watchPods("web")
	w.arm(t, 3)

	d := e.updateDeployment("web", version("2"))
	newHash := podTemplateHash(&d.Spec.Template, nil)
	controllertest.Eventually(t, "rollout under way", func() (bool, string) {
		n := 0
		for _, p := range e.Pods("web") {
			if p.Labels[hashLabel] == newHash {
				n++
			}
		}
		return n >= 1, fmt.Sprintf("%d new pods", n)
	})
	e.Etcd.Restart(t) // about 5 s here: the embedded etcd's shutdown
	e.waitReplicaSets("web", "1:0", "2:3")
	e.waitRolledOut("web")
	if _, _, created := w.results(); created[newHash] != 3 || len(created) != 1 {
		t.Errorf("pods created during the rollout by template: %v; want exactly 3 of %s", created, newHash)
	}
}

// A ReplicaSet already holding the name the template hash gives is a
// collision: the Deployment counts it in status.collisionCount and takes
// the next hash.
func TestDeploymentHashCollision(t *testing.T) {
	e := newEnv(t)
	d := controllertest.Deployment("web", 2)
	registry.SetDefaults(d)
	hash := podTemplateHash(&d.Spec.Template, nil)
	squatter := controllertest.ReplicaSet("other", 0)
	squatter.Name = "web-" + hash
	e.Create(registry.ReplicaSets, squatter)
	e.startControllers()
	e.Create(registry.Deployments, d)
	next := podTemplateHash(&d.Spec.Template, new(int32(1)))
	controllertest.Eventually(t, "replica set of the next hash", func() (bool, string) {
		rs, ok := e.ReplicaSets("web")["web-"+next]
		got := e.deployment("web").Status.CollisionCount
		return ok && got != nil && *got == 1 && *rs.Spec.Replicas == 2 && len(e.Pods("web")) == 2,
			fmt.Sprintf("collisionCount %v, replica sets %v", got, slices.Collect(maps.Keys(e.ReplicaSets("web"))))
	})
}

// A scale in the middle of a rollout is shared between the old and new
// ReplicaSets in proportion, as Kubernetes does.
func TestDeploymentProportionalScaleMidRollout(t *testing.T) {
	e := newEnv(t)
	e.startControllers()
	e.Create(registry.Deployments, controllertest.Deployment("web", 10, rollingUpdate("3", "2")))
	e.waitReplicaSets("web", "1:10")
	e.markAllReady("web")
	e.waitRolledOut("web")
	// The new pods never become ready: the rollout stops at 8 old, 5 new.
	e.updateDeployment("web", version("2"))
	e.waitReplicaSets("web", "1:8", "2:5")
	e.updateDeployment("web", replicas(20))
	// 23 allowed (20 + maxSurge), 10 to add: 8·23/13 ≈ 14, 5·23/13 ≈ 9.
	e.waitReplicaSets("web", "1:14", "2:9")
	e.autoReady(0)
	e.waitReplicaSets("web", "1:0", "2:20")
	e.waitRolledOut("web")
}

func TestDeploymentFenceposts(t *testing.T) {
	for _, c := range []struct {
		replicas            int32
		surge, unavailable  string
		wantSurge, wantUnav int32
	}{
		{10, "25%", "25%", 3, 2}, // surge rounds up, unavailable down
		{3, "25%", "25%", 1, 0},
		{3, "0", "0%", 0, 1}, // both 0 would never move: unavailable 1
		{4, "1", "0", 1, 0},
		{5, "50%", "100%", 3, 5},
		{2, "0", "5", 0, 2}, // never more unavailable than replicas
	} {
		d := controllertest.Deployment("web", c.replicas, rollingUpdate(c.surge, c.unavailable))
		if s, u := maxSurge(d), maxUnavailable(d); s != c.wantSurge || u != c.wantUnav {
			t.Errorf("%d replicas, surge %s, unavailable %s: got %d, %d; want %d, %d",
				c.replicas, c.surge, c.unavailable, s, u, c.wantSurge, c.wantUnav)
		}
	}
}

func TestPodTemplateHash(t *testing.T) {
	d := controllertest.Deployment("web", 1)
	h := podTemplateHash(&d.Spec.Template, nil)
	if h != podTemplateHash(&d.Spec.Template, nil) || h == podTemplateHash(&d.Spec.Template, new(int32(1))) {
		t.Fatalf("hash %s is not stable or ignores the collision count", h)
	}
	version("2")(d)
	if podTemplateHash(&d.Spec.Template, nil) == h {
		t.Fatalf("a template change kept hash %s", h)
	}
	if strings.Trim(h, "bcdfghjklmnpqrstvwxz2456789") != "" {
		t.Fatalf("hash %q has characters outside those safe in a name", h)
	}
	a := d.Spec.Template.DeepCopy()
	a.Labels = withLabel(a.Labels, hashLabel, "abc")
	if !equalIgnoreHash(a, &d.Spec.Template) {
		t.Fatal("templates that differ only in pod-template-hash compare unequal")
	}
}

package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
)

// orphanGrace is the grace period of containers that belong to no pod
// bound here any more (deleted while the agent was away).
const orphanGrace = 10 * time.Second

// startPodInformer watches the pods bound to this node (a field selector on
// spec.nodeName) and returns them once it has listed them all.
func (a *Agent) startPodInformer(ctx context.Context) ([]*corev1.Pod, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	a.podInformer = inf
	factory.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		factory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("list the pods bound to node %s: %w", a.cfg.NodeName, context.Cause(ctx))
	}
	var pods []*corev1.Pod
	for _, o := range inf.GetStore().List() {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// adopt reconciles what a previous agent left with the pods bound here:
// the containers and sandboxes of those pods go to their workers (nothing
// runs twice); those of pods that no longer exist are stopped and removed,
// with their logs. Then it starts a worker per pod and follows the
// informer.
func (a *Agent) adopt(ctx context.Context, pods []*corev1.Pod, adopted []*noderuntime.Container) {
	bound := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		bound[p.UID] = p
	}
	runs := map[types.UID][]*noderuntime.Container{}
	orphans := map[types.UID][]*noderuntime.Container{}
	for _, c := range adopted {
		uid := types.UID(c.Spec().Pod.UID)
		if _, ok := bound[uid]; ok {
			runs[uid] = append(runs[uid], c)
		} else {
			orphans[uid] = append(orphans[uid], c)
		}
	}
	sandboxes := map[types.UID]bool{}
	for _, sb := range a.net.Sandboxes() {
		if _, ok := bound[types.UID(sb.UID)]; !ok {
			sandboxes[types.UID(sb.UID)] = true
		}
	}
	for uid := range orphans {
		sandboxes[uid] = true
	}
	for uid := range sandboxes {
		cs := orphans[uid]
		a.log.Info("removing what is left of a pod no longer bound here", "uid", uid, "containers", len(cs))
		a.background(func(ctx context.Context) {
			for _, c := range cs {
				if !done(c) {
					stopRun(ctx, c, orphanGrace)
				}
			}
			if err := a.net.Teardown(ctx, string(uid)); err != nil {
				a.log.Warn("tear down the network of a pod no longer bound here", "uid", uid, "err", err)
			}
		})
	}
	a.sweepLogs(bound)

	a.mu.Lock()
	for _, p := range pods {
		w := newPodWorker(a, p, runs[p.UID])
		a.workers[p.UID] = w
		go w.run(ctx)
	}
	a.mu.Unlock()
	a.podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.onPod,
		UpdateFunc: func(_, obj any) { a.onPod(obj) },
		DeleteFunc: a.onPodDelete,
	})
}

// sweepLogs removes the log directories (<namespace>_<name>_<uid>) of pods
// that are not bound here.
func (a *Agent) sweepLogs(bound map[types.UID]*corev1.Pod) {
	dir := filepath.Join(a.cfg.DataDir, "logs")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		i := strings.LastIndexByte(e.Name(), '_')
		if !e.IsDir() || i < 0 {
			continue
		}
		if _, ok := bound[types.UID(e.Name()[i+1:])]; !ok {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func (a *Agent) onPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != a.cfg.NodeName {
		return
	}
	a.mu.Lock()
	w := a.workers[pod.UID]
	if w == nil {
		if a.stopping {
			a.mu.Unlock()
			return
		}
		w = newPodWorker(a, pod, nil)
		a.workers[pod.UID] = w
		go w.run(a.runCtx)
	}
	a.mu.Unlock()
	w.update(pod)
}

func (a *Agent) onPodDelete(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if w := a.worker(pod.UID); w != nil {
		w.markGone()
	}
}

// removeWorker forgets a worker whose pod is gone and stopped.
func (a *Agent) removeWorker(w *podWorker) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.workers[w.uid] == w {
		delete(a.workers, w.uid)
	}
}

func (a *Agent) allWorkers() []*podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		out = append(out, w)
	}
	return out
}

// background runs fn on its own goroutine; shutdown waits for it.
func (a *Agent) background(fn func(ctx context.Context)) {
	a.bg.Go(func() { fn(a.runCtx) })
}

// runProbeUpdates hands each probe result to its pod's worker.
func (a *Agent) runProbeUpdates(ctx context.Context) {
	for u := range a.probes.Updates() {
		if w := a.worker(u.PodUID); w != nil {
			w.probeUpdate(u)
		}
	}
}

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
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
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

// leftovers is what a previous agent left of one pod in the runtime.
type leftovers struct {
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container
}

// listLeftovers lists the node's sandboxes and containers in the runtime
// (by the node label the agent puts on them), by pod UID.
func (a *Agent) listLeftovers(ctx context.Context) (map[types.UID]*leftovers, error) {
	node := map[string]string{labelNode: a.cfg.NodeName}
	sbs, err := a.cri.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: node})
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	ctrs, err := a.cri.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: node})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := map[types.UID]*leftovers{}
	get := func(uid string) *leftovers {
		l := out[types.UID(uid)]
		if l == nil {
			l = &leftovers{}
			out[types.UID(uid)] = l
		}
		return l
	}
	for _, sb := range sbs {
		l := get(sb.GetMetadata().GetUid())
		l.sandboxes = append(l.sandboxes, sb)
	}
	for _, c := range ctrs {
		l := get(c.GetLabels()[labelPodUID])
		l.containers = append(l.containers, c)
	}
	return out, nil
}

// adopt reconciles what a previous agent left with the pods bound here:
// the sandboxes and containers of those pods go to their workers (nothing
// runs twice); those of pods that no longer exist are stopped and removed,
// with their cgroups, volumes and logs. Then it starts a worker per pod and
// follows the informer.
func (a *Agent) adopt(ctx context.Context, pods []*corev1.Pod, left map[types.UID]*leftovers) {
	bound := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		bound[p.UID] = p
	}
	for uid, l := range left {
		if _, ok := bound[uid]; ok {
			continue
		}
		a.log.Info("removing what is left of a pod no longer bound here", "uid", uid, "sandboxes", len(l.sandboxes), "containers", len(l.containers))
		a.background(func(ctx context.Context) { a.removeOrphan(ctx, uid, l) })
	}
	a.sweepPodDirs(bound)

	a.mu.Lock()
	for _, p := range pods {
		w := newPodWorker(a, p, left[p.UID])
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

// removeOrphan stops and removes the containers and sandboxes of a pod
// that is not bound here any more, then its cgroups and directories.
func (a *Agent) removeOrphan(ctx context.Context, uid types.UID, l *leftovers) {
	for _, c := range l.containers {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			a.cri.StopContainer(ctx, c.Id, int64(orphanGrace.Seconds()))
		}
	}
	for _, sb := range l.sandboxes {
		if err := a.removeSandbox(ctx, sb.Id); err != nil {
			a.log.Warn("remove the sandbox of a pod no longer bound here", "uid", uid, "err", err)
		}
	}
	for _, c := range l.containers {
		a.cri.RemoveContainer(ctx, c.Id) // one whose sandbox is gone already
	}
	if err := a.removePodCgroups(uid); err != nil {
		a.log.Warn("remove the cgroups of a pod no longer bound here", "uid", uid, "err", err)
	}
	if err := a.removePodDir(string(uid)); err != nil {
		a.log.Warn("remove the volumes of a pod no longer bound here", "uid", uid, "err", err)
	}
}

// sweepPodDirs removes the pod directories and log directories
// (<namespace>_<name>_<uid>) of pods that are not bound here.
func (a *Agent) sweepPodDirs(bound map[types.UID]*corev1.Pod) {
	entries, _ := os.ReadDir(a.logsDir())
	for _, e := range entries {
		i := strings.LastIndexByte(e.Name(), '_')
		if !e.IsDir() || i < 0 {
			continue
		}
		if _, ok := bound[types.UID(e.Name()[i+1:])]; !ok {
			os.RemoveAll(filepath.Join(a.logsDir(), e.Name()))
		}
	}
	entries, _ = os.ReadDir(filepath.Join(a.cfg.DataDir, "pods"))
	for _, e := range entries {
		if _, ok := bound[types.UID(e.Name())]; !ok {
			if err := a.removePodDir(e.Name()); err != nil {
				a.log.Warn("remove the directory of a pod no longer bound here", "uid", e.Name(), "err", err)
			}
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

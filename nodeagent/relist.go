package nodeagent

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// relistPeriod is how often the agent lists its containers to learn which
// exited, as the kubelet's PLEG does (containerd 1.6 has no container
// events over CRI): an exit is noticed within this time.
const relistPeriod = time.Second

// relist is the agent's last view of its containers' states.
type relist struct {
	mu     sync.Mutex
	exited map[string]bool      // container ID → exited (or gone) since the worker started it
	known  map[string]types.UID // containers seen running at the last list, and their pods
	ok     time.Time            // the last successful list
}

// hasExited reports whether the container id exited, as of the last list.
func (r *relist) hasExited(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exited[id]
}

func (r *relist) init() {
	if r.exited == nil {
		r.exited, r.known = map[string]bool{}, map[string]types.UID{}
	}
}

// markExited records the exit of a container found exited.
func (r *relist) markExited(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	r.exited[id] = true
}

// forget drops what the relist knows of a container the worker removed.
func (r *relist) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.exited, id)
	delete(r.known, id)
}

// runRelist lists the node's containers every relistPeriod and wakes the
// workers of pods whose containers exited (or vanished). A runtime that
// does not answer for a while marks the node not ready.
func (a *Agent) runRelist(ctx context.Context) {
	t := time.NewTicker(relistPeriod)
	defer t.Stop()
	r := &a.relist
	r.mu.Lock()
	r.ok = time.Now()
	r.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		list, err := a.cri.ListContainers(lctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{labelNode: a.cfg.NodeName}})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.runtimeUnreachable(err)
			continue
		}
		a.runtimeAnswered()
		for _, uid := range r.update(list) {
			if w := a.worker(uid); w != nil {
				w.wake()
			}
		}
	}
}

// update takes a list of the runtime's containers and returns the pods
// whose containers exited since the last one.
func (r *relist) update(list []*runtimeapi.Container) []types.UID {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ok = time.Now()
	r.init()
	seen := make(map[string]bool, len(list))
	var woken []types.UID
	for _, c := range list {
		seen[c.Id] = true
		uid := types.UID(c.GetLabels()[labelPodUID])
		switch c.State {
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			r.known[c.Id] = uid
		case runtimeapi.ContainerState_CONTAINER_EXITED, runtimeapi.ContainerState_CONTAINER_UNKNOWN:
			if !r.exited[c.Id] {
				r.exited[c.Id] = true
				woken = append(woken, uid)
			}
			delete(r.known, c.Id)
		}
	}
	// A container that vanished (removed behind the agent's back) has
	// exited too.
	for id, uid := range r.known {
		if !seen[id] {
			r.exited[id] = true
			delete(r.known, id)
			woken = append(woken, uid)
		}
	}
	return woken
}

// runtimeUnreachable notes a failed list: after 3 periods without an
// answer the node reports the runtime down.
func (a *Agent) runtimeUnreachable(err error) {
	a.relist.mu.Lock()
	since := time.Since(a.relist.ok)
	a.relist.mu.Unlock()
	if since > 3*relistPeriod && a.health.problem() == "" {
		a.log.Error("the container runtime does not answer", "err", err, "since", since.Round(time.Second))
		a.health.set("container runtime is down: " + err.Error())
	}
}

// runtimeAnswered clears a runtime-down state that the relist set.
func (a *Agent) runtimeAnswered() {
	if a.health.problem() == "" {
		return
	}
	if a.rt != nil {
		select {
		case <-a.rt.Exited():
			return // watchRuntime owns it until containerd is back
		default:
		}
	}
	a.log.Info("the container runtime answers again")
	a.health.set("")
}

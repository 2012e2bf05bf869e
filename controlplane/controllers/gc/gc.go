// Package gc is the garbage collector: it deletes objects whose owners are
// gone, as Kubernetes' garbage collector does (see Collector).
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// gcResync is how often the garbage collector checks every dependent it
// watches, in case an event was not enough (it always should be).
const gcResync = 5 * time.Minute

// Collector deletes objects whose ownerReferences all point to
// owners that no longer exist, as Kubernetes' garbage collector does with
// background propagation: deleting a Deployment removes its ReplicaSets,
// then their Pods; deleting a Service, the EndpointSlices it owns. An owner
// counts by uid: one deleted and created again under the same name is a
// different owner. A dependent with some owners left loses only its
// references to the others.
//
// It watches Deployments, ReplicaSets, Pods, Services, EndpointSlices, Jobs
// and CronJobs, indexes them by the uids of their owners, and on an owner's
// deletion checks its dependents. An owner not in its cache is looked up in etcd
// before anything is deleted, so a lagging cache cannot make it delete what
// has a live owner. Owners of kinds Shoal does not serve are assumed to
// exist. Orphan and Foreground propagation are not done: they need the API
// server to strip ownerReferences or hold the owner with a finalizer.
type Collector struct {
	reg       *registry.Registry
	caches    *store.Caches
	log       *slog.Logger
	resources []*registry.Info
	workers   int
	resync    time.Duration

	mu sync.Mutex
	// live holds the uids of the objects in the watched caches.
	live map[types.UID]struct{}
	// dependents maps an owner's uid to the keys of the objects that name
	// it; owners is the reverse, to keep dependents current.
	dependents map[types.UID]map[string]struct{}
	owners     map[string][]types.UID
}

var _ controller.Controller = (*Collector)(nil)

// New returns the garbage collector.
func New(d controller.Deps) *Collector {
	log := d.Logger()
	return &Collector{
		reg: d.Registry, caches: d.Caches, log: log.With("controller", "garbage-collector"),
		resources: []*registry.Info{registry.Deployments, registry.ReplicaSets, registry.Pods, registry.Services, registry.EndpointSlices, registry.Jobs, registry.CronJobs},
		workers:   10,
		resync:    gcResync,
	}
}

// Name implements controller.Controller.
func (g *Collector) Name() string { return "garbage-collector" }

// Run implements controller.Controller. It returns once ctx has ended and its
// deletions in flight are over.
func (g *Collector) Run(ctx context.Context) {
	q := controller.NewQueue(g.Name(), g.log, g.sync)
	g.mu.Lock()
	g.live, g.dependents, g.owners = map[types.UID]struct{}{}, map[types.UID]map[string]struct{}{}, map[string][]types.UID{}
	g.mu.Unlock()
	rs := make([]*api.Resource, len(g.resources))
	for i, info := range g.resources {
		rs[i] = info.Resource
		defer g.caches.For(info.Resource).Subscribe(func(e store.Event) { g.onEvent(q, info, e) })()
	}
	if err := g.caches.WaitSynced(ctx, rs...); err != nil {
		q.ShutDown()
		return
	}
	go g.sweep(ctx, q)
	q.Run(ctx, g.workers)
}

// sweep queues every dependent now and then, as a safety net.
func (g *Collector) sweep(ctx context.Context, q *controller.Queue) {
	t := time.NewTicker(g.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, info := range g.resources {
			for _, o := range g.caches.For(info.Resource).List("", store.Predicate{}) {
				if len(o.GetOwnerReferences()) > 0 {
					q.Add(gcKey(info, o))
				}
			}
		}
	}
}

func gcKey(info *registry.Info, o metav1.Object) string {
	return info.Name + "/" + o.GetNamespace() + "/" + o.GetName()
}

func (g *Collector) parseKey(key string) (*registry.Info, string, string) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 {
		return nil, "", ""
	}
	for _, info := range g.resources {
		if info.Name == parts[0] {
			return info, parts[1], parts[2]
		}
	}
	return nil, "", ""
}

// onEvent keeps the index and queues what needs a look: a dependent that
// appeared or changed owners, and the dependents of what was deleted.
func (g *Collector) onEvent(q *controller.Queue, info *registry.Info, e store.Event) {
	if !controller.IsChange(e) {
		return
	}
	obj := e.Object
	key := gcKey(info, obj)
	g.mu.Lock()
	if e.Type == watch.Deleted {
		delete(g.live, obj.GetUID())
		g.setOwnersLocked(key, nil)
		deps := make([]string, 0, len(g.dependents[obj.GetUID()]))
		for dep := range g.dependents[obj.GetUID()] {
			deps = append(deps, dep)
		}
		g.mu.Unlock()
		for _, dep := range deps {
			q.Add(dep)
		}
		return
	}
	g.live[obj.GetUID()] = struct{}{}
	refs := obj.GetOwnerReferences()
	uids := make([]types.UID, len(refs))
	for i, r := range refs {
		uids[i] = r.UID
	}
	changed := g.setOwnersLocked(key, uids)
	g.mu.Unlock()
	if len(refs) > 0 && (e.Type == watch.Added || changed) {
		q.Add(key)
	}
}

// setOwnersLocked records that key names owners; it reports a change.
func (g *Collector) setOwnersLocked(key string, owners []types.UID) bool {
	old := g.owners[key]
	if equalUIDs(old, owners) {
		return false
	}
	for _, uid := range old {
		if deps := g.dependents[uid]; deps != nil {
			delete(deps, key)
			if len(deps) == 0 {
				delete(g.dependents, uid)
			}
		}
	}
	for _, uid := range owners {
		if g.dependents[uid] == nil {
			g.dependents[uid] = map[string]struct{}{}
		}
		g.dependents[uid][key] = struct{}{}
	}
	if len(owners) == 0 {
		delete(g.owners, key)
	} else {
		g.owners[key] = owners
	}
	return true
}

func equalUIDs(a, b []types.UID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sync deletes the object key if all its owners are gone, or drops its
// references to those that are.
func (g *Collector) sync(ctx context.Context, key string) error {
	info, ns, name := g.parseKey(key)
	if info == nil {
		return nil
	}
	obj, ok := g.caches.For(info.Resource).Get(ns, name)
	if !ok {
		return nil
	}
	refs := obj.GetOwnerReferences()
	if len(refs) == 0 || obj.GetDeletionTimestamp() != nil {
		return nil
	}
	gone := map[types.UID]bool{}
	n := 0
	for _, ref := range refs {
		isGone, err := g.ownerGone(ctx, info, ns, ref)
		if err != nil {
			return err
		}
		if isGone {
			gone[ref.UID] = true
			n++
		}
	}
	if n == 0 {
		return nil
	}
	uid := obj.GetUID()
	if n == len(refs) {
		_, err := g.reg.Delete(ctx, info, ns, name, &store.Preconditions{UID: string(uid)}, registry.WriteOptions{})
		if err == nil {
			g.log.Info("deleted an object whose owners are gone", "resource", info.Name, "namespace", ns, "name", name)
		}
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return fmt.Errorf("delete %s %s/%s: %w", info.Kind, ns, name, err)
	}
	_, err := g.reg.Update(ctx, info, ns, name, "", func(cur store.Object) (store.Object, error) {
		if cur.GetUID() != uid {
			return nil, controller.ErrClaimGone
		}
		var keep []metav1.OwnerReference
		for _, r := range cur.GetOwnerReferences() {
			if !gone[r.UID] {
				keep = append(keep, r)
			}
		}
		cur.SetOwnerReferences(keep)
		cur.SetResourceVersion("")
		return cur, nil
	}, registry.WriteOptions{})
	if err == nil || errors.Is(err, controller.ErrClaimGone) || apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("remove dangling owner references of %s %s/%s: %w", info.Kind, ns, name, err)
}

// ownerGone reports whether ref, an owner of an object of dep in namespace
// ns, no longer exists.
func (g *Collector) ownerGone(ctx context.Context, dep *registry.Info, ns string, ref metav1.OwnerReference) (bool, error) {
	owner := infoForOwner(ref)
	if owner == nil {
		return false, nil // a kind Shoal does not serve: it cannot tell
	}
	g.mu.Lock()
	_, live := g.live[ref.UID]
	g.mu.Unlock()
	if live {
		return false, nil
	}
	ownerNS := ""
	if owner.Namespaced {
		if !dep.Namespaced {
			return false, nil // a cluster object cannot name a namespaced owner
		}
		ownerNS = ns
	}
	// Not in a cache: the cache may not have seen it yet, or it is of a
	// kind not watched. etcd decides.
	o, err := g.reg.Store.Get(ctx, owner.Resource, ownerNS, ref.Name)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up owner %s %s of %s/%s: %w", ref.Kind, ref.Name, dep.Name, ns, err)
	}
	return o.GetUID() != ref.UID, nil
}

// infoForOwner is the served resource an owner reference points to.
func infoForOwner(ref metav1.OwnerReference) *registry.Info {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil
	}
	for _, info := range registry.All {
		if info.GroupVersion.Group == gv.Group && info.Kind == ref.Kind {
			return info
		}
	}
	return nil
}

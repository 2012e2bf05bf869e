package controllers

import (
	"maps"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// The endpoint controllers keep their own indexes of the shared caches,
// filled from cache events, because the questions they ask on every event
// ("which services select this pod", "which pods does this service select",
// "which slices belong to this service") would otherwise be scans of every
// object. The indexes hold the cache's objects, which are never modified.

// epPods holds the pods by namespace and, within a namespace, by label
// pair, so a service's pods are found from its rarest selector pair.
type epPods struct {
	mu sync.RWMutex
	ns map[string]*epNSPods
}

type epNSPods struct {
	pods    map[string]*corev1.Pod
	byLabel map[string]map[string]struct{} // "key=value" → pod names
}

func newEPPods() *epPods { return &epPods{ns: map[string]*epNSPods{}} }

// set records p and returns the version it replaced, if any.
func (x *epPods) set(p *corev1.Pod) (old *corev1.Pod) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.ns[p.Namespace]
	if n == nil {
		n = &epNSPods{pods: map[string]*corev1.Pod{}, byLabel: map[string]map[string]struct{}{}}
		x.ns[p.Namespace] = n
	}
	old = n.pods[p.Name]
	if old != nil {
		n.unlabel(old)
	}
	n.pods[p.Name] = p
	for k, v := range p.Labels {
		pair := k + "=" + v
		names := n.byLabel[pair]
		if names == nil {
			names = map[string]struct{}{}
			n.byLabel[pair] = names
		}
		names[p.Name] = struct{}{}
	}
	return old
}

// remove forgets p and returns the version it held, if any.
func (x *epPods) remove(p *corev1.Pod) (old *corev1.Pod) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.ns[p.Namespace]
	if n == nil {
		return nil
	}
	old = n.pods[p.Name]
	if old == nil {
		return nil
	}
	n.unlabel(old)
	delete(n.pods, p.Name)
	if len(n.pods) == 0 {
		delete(x.ns, p.Namespace)
	}
	return old
}

func (n *epNSPods) unlabel(p *corev1.Pod) {
	for k, v := range p.Labels {
		pair := k + "=" + v
		delete(n.byLabel[pair], p.Name)
		if len(n.byLabel[pair]) == 0 {
			delete(n.byLabel, pair)
		}
	}
}

// selectPods returns the pods of namespace ns that selector (a Service's
// equality selector, not empty) selects, by name.
func (x *epPods) selectPods(ns string, selector map[string]string) []*corev1.Pod {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.ns[ns]
	if n == nil || len(selector) == 0 {
		return nil
	}
	var candidates map[string]struct{}
	for k, v := range selector {
		names := n.byLabel[k+"="+v]
		if len(names) == 0 {
			return nil
		}
		if candidates == nil || len(names) < len(candidates) {
			candidates = names
		}
	}
	out := make([]*corev1.Pod, 0, len(candidates))
	for name := range candidates {
		if p := n.pods[name]; epSelects(selector, p.Labels) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// selects reports whether a Service selector matches labels.
func epSelects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// epServices holds the selectors of the services that have one, by
// namespace, each filed under one of its label pairs (the first by key): a
// pod event looks up its own label pairs and tests only the services filed
// there, not every service of the namespace.
type epServices struct {
	mu sync.RWMutex
	ns map[string]*epNSServices
}

type epNSServices struct {
	selectors map[string]map[string]string // name → selector
	byPair    map[string]map[string]struct{}
}

func newEPServices() *epServices { return &epServices{ns: map[string]*epNSServices{}} }

// filingPair is the label pair a selector is filed under.
func filingPair(selector map[string]string) string {
	first := ""
	for k := range selector {
		if first == "" || k < first {
			first = k
		}
	}
	return first + "=" + selector[first]
}

func (x *epServices) set(svc *corev1.Service) {
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		x.remove(svc.Namespace, svc.Name)
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.ns[svc.Namespace]
	if n == nil {
		n = &epNSServices{selectors: map[string]map[string]string{}, byPair: map[string]map[string]struct{}{}}
		x.ns[svc.Namespace] = n
	}
	n.unfile(svc.Name)
	n.selectors[svc.Name] = svc.Spec.Selector
	pair := filingPair(svc.Spec.Selector)
	if n.byPair[pair] == nil {
		n.byPair[pair] = map[string]struct{}{}
	}
	n.byPair[pair][svc.Name] = struct{}{}
}

func (x *epServices) remove(ns, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.ns[ns]
	if n == nil {
		return
	}
	n.unfile(name)
	if len(n.selectors) == 0 {
		delete(x.ns, ns)
	}
}

func (n *epNSServices) unfile(name string) {
	sel, ok := n.selectors[name]
	if !ok {
		return
	}
	pair := filingPair(sel)
	delete(n.byPair[pair], name)
	if len(n.byPair[pair]) == 0 {
		delete(n.byPair, pair)
	}
	delete(n.selectors, name)
}

// selecting adds to out the names of the services in ns that select labels.
func (x *epServices) selecting(ns string, labels map[string]string, out map[string]bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.ns[ns]
	if n == nil {
		return
	}
	for k, v := range labels {
		for name := range n.byPair[k+"="+v] {
			if epSelects(n.selectors[name], labels) {
				out[name] = true
			}
		}
	}
}

// servicesForPod returns the keys of the services a pod change concerns, as
// Kubernetes' GetServicesToUpdateOnPodChange does: none when nothing an
// endpoint shows changed, the services that gained or lost the pod when only
// its labels did, and every service of the old and new pod otherwise. old
// or cur is nil for a pod that appeared or went.
func (x *epServices) servicesForPod(old, cur *corev1.Pod) []string {
	p := cur
	if p == nil {
		p = old
	}
	set := map[string]bool{}
	switch {
	case old == nil || cur == nil:
		x.selecting(p.Namespace, p.Labels, set)
	default:
		labelsChanged := !maps.Equal(old.Labels, cur.Labels)
		podChanged := podEndpointChanged(old, cur)
		if !labelsChanged && !podChanged {
			return nil
		}
		x.selecting(p.Namespace, cur.Labels, set)
		if labelsChanged {
			before := map[string]bool{}
			x.selecting(p.Namespace, old.Labels, before)
			for name := range before {
				if podChanged || !set[name] {
					set[name] = true
				} else {
					delete(set, name) // selected before and after: nothing to do
				}
			}
		}
	}
	keys := make([]string, 0, len(set))
	for name := range set {
		keys = append(keys, p.Namespace+"/"+name)
	}
	return keys
}

package endpoint

import (
	"maps"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Pods holds the pods by namespace and, within a namespace, by label
// pair, so a service's pods are found from its rarest selector pair.
type Pods struct {
	mu sync.RWMutex
	ns map[string]*nsPods
}

type nsPods struct {
	pods    map[string]*corev1.Pod
	byLabel map[string]map[string]struct{} // "key=value" → pod names
}

// NewPods returns an empty index.
func NewPods() *Pods { return &Pods{ns: map[string]*nsPods{}} }

// Set records p and returns the version it replaced, if any.
func (x *Pods) Set(p *corev1.Pod) (old *corev1.Pod) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.ns[p.Namespace]
	if n == nil {
		n = &nsPods{pods: map[string]*corev1.Pod{}, byLabel: map[string]map[string]struct{}{}}
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

// Remove forgets p and returns the version it held, if any.
func (x *Pods) Remove(p *corev1.Pod) (old *corev1.Pod) {
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

func (n *nsPods) unlabel(p *corev1.Pod) {
	for k, v := range p.Labels {
		pair := k + "=" + v
		delete(n.byLabel[pair], p.Name)
		if len(n.byLabel[pair]) == 0 {
			delete(n.byLabel, pair)
		}
	}
}

// Select returns the pods of namespace ns that selector (a Service's
// equality selector, not empty) selects, by name.
func (x *Pods) Select(ns string, selector map[string]string) []*corev1.Pod {
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
		if p := n.pods[name]; selects(selector, p.Labels) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// selects reports whether a Service selector matches labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Services holds the selectors of the services that have one, by
// namespace, each filed under one of its label pairs (the first by key): a
// pod event looks up its own label pairs and tests only the services filed
// there, not every service of the namespace.
type Services struct {
	mu sync.RWMutex
	ns map[string]*nsServices
}

type nsServices struct {
	selectors map[string]map[string]string // name → selector
	byPair    map[string]map[string]struct{}
}

// NewServices returns an empty index.
func NewServices() *Services { return &Services{ns: map[string]*nsServices{}} }

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

// Set records svc's selector; a service without one (or an ExternalName
// service) is removed instead, as it selects no pods.
func (x *Services) Set(svc *corev1.Service) {
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		x.Remove(svc.Namespace, svc.Name)
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.ns[svc.Namespace]
	if n == nil {
		n = &nsServices{selectors: map[string]map[string]string{}, byPair: map[string]map[string]struct{}{}}
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

// Remove forgets the service ns/name.
func (x *Services) Remove(ns, name string) {
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

func (n *nsServices) unfile(name string) {
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
func (x *Services) selecting(ns string, labels map[string]string, out map[string]bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := x.ns[ns]
	if n == nil {
		return
	}
	for k, v := range labels {
		for name := range n.byPair[k+"="+v] {
			if selects(n.selectors[name], labels) {
				out[name] = true
			}
		}
	}
}

// ForPod returns the keys of the services a pod change concerns, as
// Kubernetes' GetServicesToUpdateOnPodChange does: none when nothing an
// endpoint shows changed, the services that gained or lost the pod when only
// its labels did, and every service of the old and new pod otherwise. old
// or cur is nil for a pod that appeared or went.
func (x *Services) ForPod(old, cur *corev1.Pod) []string {
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

// ServicesOfPodEvent applies a pod event to pods and returns the keys of the
// services (of selectors) it concerns.
func ServicesOfPodEvent(e store.Event, pods *Pods, selectors *Services) []string {
	if !controller.IsChange(e) {
		return nil
	}
	p := e.Object.(*corev1.Pod)
	if e.Type == watch.Deleted {
		if old := pods.Remove(p); old != nil {
			return selectors.ForPod(old, nil)
		}
		return nil
	}
	return selectors.ForPod(pods.Set(p), p)
}

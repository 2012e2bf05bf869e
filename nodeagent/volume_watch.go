package nodeagent

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// volumeWatches follow the ConfigMaps and Secrets that the node's running
// pods mount as volumes, as the kubelet's watch-based manager does: one
// watch per object (a field selector on its name, so the agent holds only
// what its pods use), started when the first pod that mounts it runs and
// stopped with the last. A change wakes the pods that mount the object,
// which rewrite the volume atomically (the ..data swap). An immutable
// object is not followed further: its data cannot change.
type volumeWatches struct {
	a       *Agent
	mu      sync.Mutex
	watches map[objectKey]*objectWatch
	byPod   map[types.UID][]objectKey
}

// objectKey names a ConfigMap or Secret.
type objectKey struct {
	resource  string // configmaps, secrets
	namespace string
	name      string
}

type objectWatch struct {
	pods   map[types.UID]*podWorker
	cancel context.CancelFunc
}

func newVolumeWatches(a *Agent) *volumeWatches {
	return &volumeWatches{a: a, watches: map[objectKey]*objectWatch{}, byPod: map[types.UID][]objectKey{}}
}

// volumeObjects are the ConfigMaps and Secrets pod's volumes mount
// (directly or projected).
func volumeObjects(pod *corev1.Pod) []objectKey {
	var out []objectKey
	add := func(resource, name string) {
		k := objectKey{resource, pod.Namespace, name}
		for _, o := range out {
			if o == k {
				return
			}
		}
		out = append(out, k)
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			add("configmaps", v.ConfigMap.Name)
		case v.Secret != nil:
			add("secrets", v.Secret.SecretName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add("configmaps", s.ConfigMap.Name)
				}
				if s.Secret != nil {
					add("secrets", s.Secret.Name)
				}
			}
		}
	}
	return out
}

// follow makes w's pod follow the objects its volumes mount; calling it
// again is cheap and changes nothing.
func (vw *volumeWatches) follow(w *podWorker, pod *corev1.Pod) {
	if vw.a.client == nil || vw.a.runCtx == nil {
		return
	}
	vw.mu.Lock()
	defer vw.mu.Unlock()
	if _, ok := vw.byPod[w.uid]; ok {
		return // a pod's volumes never change
	}
	keys := volumeObjects(pod)
	vw.byPod[w.uid] = keys // even none: nothing to look at next time
	for _, k := range keys {
		ow := vw.watches[k]
		if ow == nil {
			ctx, cancel := context.WithCancel(vw.a.runCtx)
			ow = &objectWatch{pods: map[types.UID]*podWorker{}, cancel: cancel}
			vw.watches[k] = ow
			vw.a.bg.Go(func() { vw.run(ctx, k) }) // shutdown waits for it
		}
		ow.pods[w.uid] = w
	}
}

// forget stops following for the pod: its volumes are not updated any
// more.
func (vw *volumeWatches) forget(uid types.UID) {
	vw.mu.Lock()
	defer vw.mu.Unlock()
	for _, k := range vw.byPod[uid] {
		ow := vw.watches[k]
		if ow == nil {
			continue
		}
		delete(ow.pods, uid)
		if len(ow.pods) == 0 {
			ow.cancel()
			delete(vw.watches, k)
		}
	}
	delete(vw.byPod, uid)
}

// count is the number of objects watched.
func (vw *volumeWatches) count() int {
	vw.mu.Lock()
	defer vw.mu.Unlock()
	return len(vw.watches)
}

// run watches one object until ctx ends (or it is seen immutable), waking
// the pods that mount it on every change.
func (vw *volumeWatches) run(ctx context.Context, k objectKey) {
	var obj runtime.Object = &corev1.ConfigMap{}
	if k.resource == "secrets" {
		obj = &corev1.Secret{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notify := func(o any) {
		if immutable(o) {
			cancel() // nothing of it changes any more: the kubelet stops too
		}
		vw.mu.Lock()
		var ws []*podWorker
		if ow := vw.watches[k]; ow != nil {
			for _, w := range ow.pods {
				ws = append(ws, w)
			}
		}
		vw.mu.Unlock()
		for _, w := range ws {
			w.volumesChanged()
		}
	}
	lw := cache.NewListWatchFromClient(vw.a.client.CoreV1().RESTClient(), k.resource, k.namespace,
		fields.OneTermEqualSelector("metadata.name", k.name))
	_, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    obj,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    notify,
			UpdateFunc: func(_, o any) { notify(o) },
			DeleteFunc: notify,
		},
	})
	ctrl.RunWithContext(ctx)
}

func immutable(o any) bool {
	switch o := o.(type) {
	case *corev1.ConfigMap:
		return ptr.Deref(o.Immutable, false)
	case *corev1.Secret:
		return ptr.Deref(o.Immutable, false)
	}
	return false
}

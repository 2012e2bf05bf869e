package controllertest

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// List is the stored objects of info in namespace default labelled app=app.
func (e *Env) List(info *registry.Info, app string) []store.Object {
	e.T.Helper()
	res, err := e.Reg.Store.List(e.Ctx, info.Resource, "default", store.ListOptions{
		Predicate: store.Predicate{Label: labels.SelectorFromSet(labels.Set{"app": app})}})
	if err != nil {
		e.T.Fatalf("list %s: %v", info.Name, err)
	}
	return res.Items
}

// Pods is the stored pods labelled app=app.
func (e *Env) Pods(app string) []*corev1.Pod {
	e.T.Helper()
	objs := e.List(registry.Pods, app)
	out := make([]*corev1.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*corev1.Pod)
	}
	return out
}

// ReplicaSets is the stored ReplicaSets labelled app=app, by name.
func (e *Env) ReplicaSets(app string) map[string]*appsv1.ReplicaSet {
	e.T.Helper()
	out := map[string]*appsv1.ReplicaSet{}
	for _, o := range e.List(registry.ReplicaSets, app) {
		out[o.GetName()] = o.(*appsv1.ReplicaSet)
	}
	return out
}

// Events is the messages of the stored events about obj with reason.
func (e *Env) Events(obj store.Object, reason string) []string {
	e.T.Helper()
	res, err := e.Reg.Store.List(e.Ctx, registry.Events.Resource, obj.GetNamespace(), store.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
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

// EtcdRevision is the store's newest revision: it moves with any write.
func (e *Env) EtcdRevision() int64 {
	e.T.Helper()
	resp, err := e.Reg.Store.Client().Get(e.Ctx, "/shoal-test-revision-probe")
	if err != nil {
		e.T.Fatal(err)
	}
	return resp.Header.Revision
}

// Package rootca publishes the cluster CA in every namespace, as
// Kubernetes' root-ca-cert-publisher does (see Controller).
package rootca

import (
	"context"
	"fmt"
	"log/slog"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Kubernetes' description of the ConfigMap, in its annotation.
const (
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Controller keeps the kube-root-ca.crt ConfigMap (key ca.crt: the cluster
// CA, PEM) in every active namespace: made when the namespace is, made
// again when deleted, put back when edited. A pod's token volume projects
// it as ca.crt, which client-go's in-cluster config trusts.
type Controller struct {
	deps controller.Deps
	log  *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New returns the controller; Run starts it. d.RootCA is the CA it
// publishes; without one it does nothing.
func New(d controller.Deps) *Controller { return &Controller{deps: d, log: d.Logger()} }

// Name implements controller.Controller.
func (c *Controller) Name() string { return "root-ca-cert-publisher" }

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context) {
	if len(c.deps.RootCA) == 0 {
		c.log.Warn("no cluster CA to publish; kube-root-ca.crt is not kept")
		<-ctx.Done()
		return
	}
	caches := c.deps.Caches
	if err := caches.WaitSynced(ctx, registry.Namespaces.Resource, registry.ConfigMaps.Resource); err != nil {
		return
	}
	namespaces, configMaps := caches.For(registry.Namespaces.Resource), caches.For(registry.ConfigMaps.Resource)
	q := controller.NewQueue(c.Name(), c.log, func(ctx context.Context, ns string) error {
		return c.reconcile(ctx, namespaces, configMaps, ns)
	})
	defer namespaces.Subscribe(func(e store.Event) {
		if controller.IsChange(e) && e.Type != watch.Deleted {
			q.Add(e.Object.GetName())
		}
	})()
	defer configMaps.Subscribe(func(e store.Event) {
		if controller.IsChange(e) && e.Type != watch.Added && e.Object.GetName() == registry.RootCAConfigMap {
			q.Add(e.Object.GetNamespace())
		}
	})()
	q.Run(ctx, 2)
}

func (c *Controller) data() map[string]string {
	return map[string]string{"ca.crt": string(c.deps.RootCA)}
}

func (c *Controller) reconcile(ctx context.Context, namespaces, configMaps *store.Cache, ns string) error {
	obj, ok := namespaces.Get("", ns)
	if !ok || obj.(*corev1.Namespace).Status.Phase != corev1.NamespaceActive || obj.GetDeletionTimestamp() != nil {
		return nil
	}
	reg := c.deps.Registry
	cur, ok := configMaps.Get(ns, registry.RootCAConfigMap)
	if !ok {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: registry.RootCAConfigMap,
				Annotations: map[string]string{DescriptionAnnotation: Description}},
			Data: c.data(),
		}
		res, err := reg.Create(ctx, registry.ConfigMaps, cm, registry.WriteOptions{})
		switch {
		case err == nil:
			return c.wait(ctx, configMaps, res.Object)
		case apierrors.IsAlreadyExists(err), apierrors.IsNotFound(err), apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			return nil
		}
		return fmt.Errorf("create %s in %s: %w", registry.RootCAConfigMap, ns, err)
	}
	have := cur.(*corev1.ConfigMap)
	if maps.Equal(have.Data, c.data()) && have.Annotations[DescriptionAnnotation] != "" {
		return nil
	}
	res, err := reg.Update(ctx, registry.ConfigMaps, ns, registry.RootCAConfigMap, "", func(o store.Object) (store.Object, error) {
		cm := o.(*corev1.ConfigMap)
		cm.Data = c.data()
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[DescriptionAnnotation] = Description
		cm.ResourceVersion = ""
		return cm, nil
	}, registry.WriteOptions{})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile: its event queues ns again
	}
	if err != nil {
		return fmt.Errorf("update %s in %s: %w", registry.RootCAConfigMap, ns, err)
	}
	return c.wait(ctx, configMaps, res.Object)
}

func (c *Controller) wait(ctx context.Context, cache *store.Cache, obj store.Object) error {
	rev, _ := store.ParseResourceVersion(obj.GetResourceVersion())
	return cache.WaitForRevision(ctx, rev)
}

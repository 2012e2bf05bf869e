// Package serviceaccount keeps a "default" ServiceAccount in every active
// namespace, as Kubernetes' serviceaccount controller does (see Controller).
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Controller makes the "default" ServiceAccount in each namespace that is
// Active and lacks one, and makes it again when it is deleted: pods that
// name no account run as it, and ServiceAccount admission refuses a pod
// whose account does not exist. Like Kubernetes it does not touch an
// existing account, and leaves terminating namespaces alone.
type Controller struct {
	deps controller.Deps
	log  *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New returns the controller; Run starts it.
func New(d controller.Deps) *Controller { return &Controller{deps: d, log: d.Logger()} }

// Name implements controller.Controller.
func (c *Controller) Name() string { return "serviceaccount" }

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context) {
	caches := c.deps.Caches
	if err := caches.WaitSynced(ctx, registry.Namespaces.Resource, registry.ServiceAccounts.Resource); err != nil {
		return
	}
	namespaces, accounts := caches.For(registry.Namespaces.Resource), caches.For(registry.ServiceAccounts.Resource)
	q := controller.NewQueue(c.Name(), c.log, func(ctx context.Context, ns string) error {
		return c.reconcile(ctx, namespaces, accounts, ns)
	})
	defer namespaces.Subscribe(func(e store.Event) {
		if controller.IsChange(e) && e.Type != watch.Deleted {
			q.Add(e.Object.GetName())
		}
	})()
	defer accounts.Subscribe(func(e store.Event) {
		if e.Type == watch.Deleted && e.Object.GetName() == registry.DefaultServiceAccountName {
			q.Add(e.Object.GetNamespace())
		}
	})()
	q.Run(ctx, 2)
}

// reconcile makes the default account of namespace ns if it should exist
// and does not.
func (c *Controller) reconcile(ctx context.Context, namespaces, accounts *store.Cache, ns string) error {
	obj, ok := namespaces.Get("", ns)
	if !ok || obj.(*corev1.Namespace).Status.Phase != corev1.NamespaceActive || obj.GetDeletionTimestamp() != nil {
		return nil
	}
	if _, ok := accounts.Get(ns, registry.DefaultServiceAccountName); ok {
		return nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: registry.DefaultServiceAccountName}}
	res, err := c.deps.Registry.Create(ctx, registry.ServiceAccounts, sa, registry.WriteOptions{})
	switch {
	case err == nil:
		rev, _ := store.ParseResourceVersion(res.Object.GetResourceVersion())
		// Seen by the cache before the next reconcile of ns, which would
		// otherwise try again.
		return accounts.WaitForRevision(ctx, rev)
	case apierrors.IsAlreadyExists(err), apierrors.IsNotFound(err), apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil
	}
	return fmt.Errorf("create the default service account of %s: %w", ns, err)
}

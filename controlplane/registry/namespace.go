package registry

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// SystemNamespaces exist from the start and cannot be deleted.
var SystemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// deleteNamespace marks a namespace Terminating; the finalizer then deletes
// everything in it and finally the namespace itself, so a client that waits
// for the namespace to disappear knows its contents are gone.
func (r *Registry) deleteNamespace(ctx context.Context, name string, pre *store.Preconditions, opts WriteOptions) (store.Object, error) {
	for _, sys := range SystemNamespaces {
		if name == sys {
			return nil, apierrors.NewForbidden(Namespaces.GroupResource(), name, fmt.Errorf("this namespace may not be deleted"))
		}
	}
	cur, err := r.Store.Get(ctx, Namespaces.Resource, "", name)
	if err != nil {
		return nil, err
	}
	if pre != nil && ((pre.UID != "" && pre.UID != string(cur.GetUID())) || (pre.ResourceVersion != "" && pre.ResourceVersion != cur.GetResourceVersion())) {
		return nil, conflict(Namespaces, name)
	}
	if opts.DryRun || cur.GetDeletionTimestamp() != nil {
		return cur, nil
	}
	out, err := r.Store.GuaranteedUpdate(ctx, Namespaces.Resource, "", name, func(c store.Object) (store.Object, store.Txn, error) {
		ns := c.(*corev1.Namespace)
		if ns.DeletionTimestamp == nil {
			now := metav1.Now()
			ns.DeletionTimestamp = &now
		}
		ns.Status.Phase = corev1.NamespaceTerminating
		return ns, store.Txn{}, nil
	})
	if err != nil {
		return nil, err
	}
	r.enqueueFinalize(name)
	return out, nil
}

// finalizeNamespace deletes every object in a terminating namespace, then
// the namespace. It is idempotent: a crash half-way is finished by the next
// sweep.
func (r *Registry) finalizeNamespace(ctx context.Context, name string) error {
	// Events may still be written into a terminating namespace (about the
	// objects being deleted, after the pass over Events), so pass again
	// until a pass finds nothing, as Kubernetes' namespace controller does.
	for pass := 0; ; pass++ {
		deleted, err := r.deleteNamespaceContent(ctx, name)
		if err != nil {
			return err
		}
		if deleted == 0 {
			break
		}
		if pass == 4 {
			return fmt.Errorf("namespace %s: objects still being created", name)
		}
	}
	_, err := r.Store.Delete(ctx, Namespaces.Resource, "", name, nil, nil)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// deleteNamespaceContent deletes every object in namespace name and
// returns how many there were.
func (r *Registry) deleteNamespaceContent(ctx context.Context, name string) (int, error) {
	n := 0
	for _, info := range All {
		if !info.Namespaced {
			continue
		}
		list, err := r.Store.List(ctx, info.Resource, name, store.ListOptions{})
		if err != nil {
			return n, err
		}
		for _, o := range list.Items {
			_, err := r.Store.Delete(ctx, info.Resource, name, o.GetName(), nil, r.deleteTxn(info))
			if err != nil && !apierrors.IsNotFound(err) {
				return n, fmt.Errorf("delete %s %s/%s: %w", info.Kind, name, o.GetName(), err)
			}
			n++
		}
	}
	return n, nil
}

// runNamespaceFinalizer empties and removes terminating namespaces: those it
// is told about at once, and all of them on a periodic sweep (which also
// finishes work a previous process left half done).
func (r *Registry) runNamespaceFinalizer(ctx context.Context) {
	sweep := time.NewTicker(30 * time.Second)
	defer sweep.Stop()
	r.sweepNamespaces(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-r.finalize:
			if err := r.finalizeNamespace(ctx, name); err != nil {
				r.Log.Warn("finalize namespace failed; will retry", "namespace", name, "err", err)
			}
		case <-sweep.C:
			r.sweepNamespaces(ctx)
		}
	}
}

func (r *Registry) sweepNamespaces(ctx context.Context) {
	list, err := r.Store.List(ctx, Namespaces.Resource, "", store.ListOptions{})
	if err != nil {
		return
	}
	for _, o := range list.Items {
		if o.GetDeletionTimestamp() != nil {
			if err := r.finalizeNamespace(ctx, o.GetName()); err != nil {
				r.Log.Warn("finalize namespace failed; will retry", "namespace", o.GetName(), "err", err)
			}
		}
	}
}

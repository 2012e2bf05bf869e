package serviceaccount

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// CachedObjects answers Objects from a process's watch caches, so that
// checking a token costs no etcd call; only an object a cache does not
// hold (not yet seen, or gone) is read from etcd. Secrets are read from a
// cache only if the process keeps one anyway.
type CachedObjects struct {
	Caches *store.Caches
	Store  *store.Store
}

var _ Objects = CachedObjects{}

// Object implements Objects.
func (o CachedObjects) Object(ctx context.Context, kind, namespace, name string) (metav1.Object, error) {
	var r *api.Resource
	switch kind {
	case "ServiceAccount":
		r = api.ServiceAccounts.Resource
	case "Pod":
		r = api.Pods.Resource
	case "Node":
		r = api.Nodes.Resource
	case "Secret":
		r = api.Secrets.Resource
	default:
		return nil, fmt.Errorf("tokens are not bound to a %s", kind)
	}
	var c *store.Cache
	if kind == "Secret" {
		c, _ = o.Caches.Existing(r)
	} else {
		c = o.Caches.For(r)
	}
	if c != nil {
		if obj, ok := c.Get(namespace, name); ok {
			return obj, nil
		}
	}
	obj, err := o.Store.Get(ctx, r, namespace, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return obj, nil
}

package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

// nodeRestriction narrows what the authorizer let a node do to what needs
// the stored object to decide, as Kubernetes' NodeRestriction admission
// does: a node may write the status of, and delete, only pods bound to it.
func (s *Server) nodeRestriction(ctx context.Context, user *auth.User, ri requestInfo) error {
	node, ok := auth.NodeName(user)
	if !ok || ri.Info != registry.Pods || readOnlyVerb(ri.Verb) {
		return nil
	}
	if !(ri.Subresource == "status" || (ri.Subresource == "" && ri.Verb == "delete")) {
		return nil
	}
	obj, err := s.store.Get(ctx, registry.Pods.Resource, ri.Namespace, ri.Name)
	if apierrors.IsNotFound(err) {
		return nil // the handler answers 404
	}
	if err != nil {
		return err
	}
	if pod := obj.(*corev1.Pod); pod.Spec.NodeName != node {
		return apierrors.NewForbidden(ri.groupResource(), ri.Name,
			fmt.Errorf("node %q can only change pods bound to it; this pod is bound to %q", node, pod.Spec.NodeName))
	}
	return nil
}

func readOnlyVerb(v string) bool { return v == "get" || v == "list" || v == "watch" }

// userKey carries the authenticated user in a request's context.
type userKey struct{}

// createRestriction refuses a node's create of another node's Node or
// Lease; see auth.CreateRestricted.
func createRestriction(r *http.Request, ri requestInfo, name string) error {
	u, _ := r.Context().Value(userKey{}).(*auth.User)
	if why := auth.CreateRestricted(u, ri.Resource, name); why != "" {
		return apierrors.NewForbidden(ri.groupResource(), name, errors.New(why))
	}
	return nil
}

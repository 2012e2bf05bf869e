package apiserver_test

import (
	"context"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/cluster/clustertest"
)

// kubectl auth whoami and kubectl auth can-i work for every user, whatever
// their role.
func TestSelfReviews(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	cfg := a.shoal.RESTConfig(t)
	viewerCfg := rest.CopyConfig(cfg)
	viewerCfg.BearerToken = a.viewer
	viewer := clientset(t, viewerCfg)

	who, err := viewer.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("whoami as viewer: %v", err)
	}
	if who.Status.UserInfo.Username != "viewer" {
		t.Fatalf("whoami = %q, want viewer", who.Status.UserInfo.Username)
	}
	cases := []struct {
		name string
		cs   interface {
			Allowed(verb string) (bool, string)
		}
		verb  string
		allow bool
	}{
		{"admin create", reviewer{a.cs.AuthorizationV1().SelfSubjectAccessReviews(), t}, "create", true},
		{"viewer list", reviewer{viewer.AuthorizationV1().SelfSubjectAccessReviews(), t}, "list", true},
		{"viewer create", reviewer{viewer.AuthorizationV1().SelfSubjectAccessReviews(), t}, "create", false},
	}
	for _, c := range cases {
		allowed, reason := c.cs.Allowed(c.verb)
		if allowed != c.allow {
			t.Errorf("%s: allowed=%v (%s), want %v", c.name, allowed, reason, c.allow)
		}
		if !allowed && reason == "" {
			t.Errorf("%s: a refusal without a reason", c.name)
		}
	}
}

type reviewer struct {
	c interface {
		Create(ctx context.Context, r *authzv1.SelfSubjectAccessReview, o metav1.CreateOptions) (*authzv1.SelfSubjectAccessReview, error)
	}
	t *testing.T
}

func (r reviewer) Allowed(verb string) (bool, string) {
	res, err := r.c.Create(r.t.Context(), &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "default", Verb: verb, Resource: "pods"}}}, metav1.CreateOptions{})
	if err != nil {
		r.t.Fatalf("can-i %s pods: %v", verb, err)
	}
	return res.Status.Allowed, res.Status.Reason
}

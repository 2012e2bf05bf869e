package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/serviceaccount"
)

// tokenRequestKind is what serviceaccounts/{name}/token takes and returns.
var tokenRequestKind = authnv1.SchemeGroupVersion.WithKind("TokenRequest")

// authenticate finds the caller: a static token first, then a service
// account token. Why a token was refused is the authenticator's debug log,
// never the client's business: every refusal is the same 401.
func (s *Server) authenticate(r *http.Request) (*auth.User, bool) {
	if u, ok := s.tokens.Authenticate(r); ok {
		return u, true
	}
	if s.saAuthn == nil {
		return nil, false
	}
	tok, ok := auth.BearerToken(r)
	if !ok {
		return nil, false
	}
	u, err := s.saAuthn.Authenticate(r.Context(), tok)
	if err != nil {
		return nil, false
	}
	return &auth.User{Name: u.Name, UID: u.UID, Groups: u.Groups}, true
}

// tokenDiscovery is the discovery entry of serviceaccounts/token.
func tokenDiscovery() metav1.APIResource {
	return metav1.APIResource{Name: "serviceaccounts/token", Namespaced: true, Group: authnv1.GroupName, Version: "v1",
		Kind: "TokenRequest", Verbs: metav1.Verbs{"create"}}
}

// serveToken serves POST serviceaccounts/{name}/token, the TokenRequest
// API that `kubectl create token` and the kubelet use: a signed token for
// the ServiceAccount, optionally bound to a Pod, Secret or Node, as
// kube-apiserver's TokenREST issues it.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Verb != "create" || ri.Name == "" {
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), r.Method+" on token"))
		return
	}
	if s.saIssuer == nil {
		writeError(w, apierrors.NewServiceUnavailable("this API server issues no service account tokens"))
		return
	}
	body, err := readBody(r, s.maxBody)
	if err == nil {
		body, err = toJSON(r, body)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	req := &authnv1.TokenRequest{}
	if err := json.Unmarshal(body, req); err != nil {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as a TokenRequest: %v", err)))
		return
	}
	if req.Kind != "" && req.Kind != tokenRequestKind.Kind {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the body of the request is a %s; serviceaccounts/token takes a TokenRequest", req.Kind)))
		return
	}
	out, warnings, err := s.issueToken(r.Context(), ri, req)
	if err != nil {
		writeError(w, err)
		return
	}
	addWarnings(w, warnings)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) issueToken(ctx context.Context, ri requestInfo, req *authnv1.TokenRequest) (*authnv1.TokenRequest, []string, error) {
	gk := tokenRequestKind.GroupKind()
	if req.Name != "" && req.Name != ri.Name {
		return nil, nil, apierrors.NewInvalid(gk, ri.Name, field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != ri.Namespace {
		return nil, nil, apierrors.NewInvalid(gk, ri.Name, field.ErrorList{field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	obj, err := s.store.Get(ctx, registry.ServiceAccounts.Resource, ri.Namespace, ri.Name)
	if err != nil {
		return nil, nil, err
	}
	sa := obj.(*corev1.ServiceAccount)
	var warnings []string
	if req.UID != "" && req.UID != sa.UID {
		warnings = append(warnings, fmt.Sprintf("the UID in the token request (%s) does not match the UID of the service account (%s)", req.UID, sa.UID))
	}
	if req.Spec.ExpirationSeconds == nil {
		req.Spec.ExpirationSeconds = new(serviceaccount.DefaultExpirationSeconds)
	}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = s.saAuthn.Audiences()
	}
	req.Name, req.Namespace = sa.Name, sa.Namespace
	if req.UID == "" {
		req.UID = sa.UID
	}
	now := time.Now()
	req.CreationTimestamp = metav1.NewTime(now)
	req.Status = authnv1.TokenRequestStatus{}
	exp := *req.Spec.ExpirationSeconds
	specPath := field.NewPath("spec", "expirationSeconds")
	switch {
	case exp < serviceaccount.MinExpirationSeconds:
		return nil, nil, apierrors.NewInvalid(gk, "", field.ErrorList{field.Invalid(specPath, exp, "may not specify a duration less than 10 minutes")})
	case exp > serviceaccount.MaxExpirationSeconds:
		return nil, nil, apierrors.NewInvalid(gk, "", field.ErrorList{field.Invalid(specPath, exp, "may not specify a duration larger than 2^32 seconds")})
	}

	issue := serviceaccount.Request{ServiceAccount: sa, Audiences: req.Spec.Audiences, ExpirationSeconds: exp}
	if ref := req.Spec.BoundObjectRef; ref != nil {
		if err := s.bindToken(ctx, ri, ref, &issue); err != nil {
			return nil, nil, err
		}
	}
	if err := nodeTokenRestriction(ctx, ri, issue.Pod); err != nil {
		return nil, nil, err
	}
	// The kubelet's projected token (3607 s) bound to a pod for the API
	// server itself is made valid for a year, warning after the hour, as
	// kube-apiserver's --service-account-extend-token-expiration does.
	if issue.Pod != nil && exp == serviceaccount.WarnOnlyExpirationSeconds && subset(req.Spec.Audiences, s.saAuthn.Audiences()) {
		issue.WarnAfterSeconds, issue.ExpirationSeconds = exp, serviceaccount.ExtendedExpirationSeconds
	}
	tok, err := s.saIssuer.Issue(issue)
	if err != nil {
		return nil, nil, apierrors.NewInternalError(errors.New("failed to generate token"))
	}
	out := req.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: tokenRequestKind.GroupVersion().String(), Kind: tokenRequestKind.Kind}
	out.Status = authnv1.TokenRequestStatus{Token: tok, ExpirationTimestamp: metav1.NewTime(now.Add(time.Duration(exp) * time.Second))}
	return out, warnings, nil
}

// nodeTokenRestriction lets a node have tokens only bound to a pod bound
// to it, as Kubernetes' NodeRestriction admission does.
func nodeTokenRestriction(ctx context.Context, ri requestInfo, pod *corev1.Pod) error {
	u, _ := ctx.Value(userKey{}).(*auth.User)
	node, ok := auth.NodeName(u)
	switch {
	case !ok:
		return nil
	case pod == nil:
		return apierrors.NewForbidden(ri.groupResource(), ri.Name, fmt.Errorf("node %q can only create tokens bound to a pod", node))
	case pod.Spec.NodeName != node:
		return apierrors.NewForbidden(ri.groupResource(), ri.Name,
			fmt.Errorf("node %q can only create tokens bound to pods bound to it; pod %s is bound to %q", node, pod.Name, pod.Spec.NodeName))
	}
	return nil
}

// bindToken resolves the object a token is bound to into issue.
func (s *Server) bindToken(ctx context.Context, ri requestInfo, ref *authnv1.BoundObjectReference, issue *serviceaccount.Request) error {
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var info *registry.Info
	ns := ri.Namespace
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		info = registry.Pods
	case gvk.Group == "" && gvk.Kind == "Secret":
		info = registry.Secrets
	case gvk.Group == "" && gvk.Kind == "Node":
		info, ns = registry.Nodes, ""
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	obj, err := s.store.Get(ctx, info.Resource, ns, ref.Name)
	if err != nil {
		return err
	}
	if ref.UID != "" && ref.UID != obj.GetUID() {
		return apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Spec.ServiceAccountName != ri.Name {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", ri.Name))
		}
		issue.Pod = o
		if o.Spec.NodeName != "" {
			// The node the pod runs on goes into the claims too; a node
			// that is gone is named without its UID.
			issue.Node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: o.Spec.NodeName}}
			if n, err := s.store.Get(ctx, registry.Nodes.Resource, "", o.Spec.NodeName); err == nil {
				issue.Node = n.(*corev1.Node)
			}
		}
	case *corev1.Secret:
		issue.Secret = o
	case *corev1.Node:
		issue.Node = o
	}
	return nil
}

// subset reports whether every one of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

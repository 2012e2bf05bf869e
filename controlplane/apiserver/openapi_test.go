package apiserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/openapi3"

	"github.com/shoalmesh/shoal/cluster/clustertest"
)

// TestOpenAPI serves the documents as kube-apiserver does and as client-go
// (kubectl's discovery client) reads them: v2 as protobuf when asked with
// kubectl's media type, v3 per group version at a hashed, immutable URL.
func TestOpenAPI(t *testing.T) {
	a := startAPI(t, clustertest.Options{})

	// kubectl asks v2 for the "@" spelling and must get an answer whose
	// Content-Type Go's mime parser takes.
	r := a.do("GET", "/openapi/v2", "", "Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf").must(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" {
		t.Errorf("v2 protobuf Content-Type = %q", ct)
	}
	if r.header.Get("Etag") == "" {
		t.Error("v2 has no ETag")
	}
	doc, err := a.cs.Discovery().OpenAPISchema()
	if err != nil {
		t.Fatalf("client-go's OpenAPISchema: %v", err)
	}
	defs := map[string]bool{}
	for _, d := range doc.GetDefinitions().GetAdditionalProperties() {
		defs[d.GetName()] = true
	}
	for _, name := range []string{"io.k8s.api.apps.v1.Deployment", "io.k8s.api.core.v1.Pod", "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
		"io.k8s.api.rbac.v1.ClusterRoleBinding", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"} {
		if !defs[name] {
			t.Errorf("v2 lacks definition %s", name)
		}
	}
	r = a.do("GET", "/openapi/v2", "", "Accept", "application/json").must(t, http.StatusOK)
	var v2 struct {
		Paths map[string]struct {
			Patch struct {
				GVK map[string]string `json:"x-kubernetes-group-version-kind"`
			} `json:"patch"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &v2); err != nil {
		t.Fatalf("v2 JSON: %v", err)
	}
	if gvk := v2.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].Patch.GVK; gvk["kind"] != "Deployment" {
		t.Errorf("v2 deployment patch operation: gvk %v", gvk)
	}

	// v3: an index of group versions with hashed URLs.
	paths, err := a.cs.Discovery().OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/autoscaling/v2", "apis/autoscaling/v1",
		"apis/rbac.authorization.k8s.io/v1", "apis/discovery.k8s.io/v1", "apis/coordination.k8s.io/v1"} {
		gv, ok := paths[p]
		if !ok {
			t.Errorf("v3 index lacks %s", p)
			continue
		}
		url := gv.ServerRelativeURL()
		if !strings.Contains(url, "?hash=") {
			t.Errorf("%s: URL %s has no hash", p, url)
		}
		r := a.do("GET", url, "", "Accept", "application/json").must(t, http.StatusOK)
		if cc := r.header.Get("Cache-Control"); cc != "public, immutable" {
			t.Errorf("%s: Cache-Control %q", url, cc)
		}
		stale := a.noRedirects().do("GET", "/openapi/v3/"+p+"?hash=0123", "", "Accept", "application/json")
		if stale.code != http.StatusMovedPermanently || stale.header.Get("Location") != url {
			t.Errorf("%s with a stale hash: %d to %q, want 301 to %s", p, stale.code, stale.header.Get("Location"), url)
		}
		a.do("GET", url, "", "Accept", "application/com.github.proto-openapi.spec.v3.v1.0+protobuf").must(t, http.StatusOK)
	}
	// What kubectl explain and apply read: a kind's schema by its GVK.
	root := openapi3.NewRoot(a.cs.Discovery().OpenAPIV3())
	apps, err := root.GVSpec(schemaGV("apps", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := apps.Components.Schemas["io.k8s.api.apps.v1.Deployment"]
	if !ok {
		t.Fatal("apps/v1 has no Deployment schema")
	}
	ext, _ := json.Marshal(s.Extensions["x-kubernetes-group-version-kind"])
	if string(ext) != `[{"group":"apps","kind":"Deployment","version":"v1"}]` {
		t.Errorf("Deployment's x-kubernetes-group-version-kind: %s", ext)
	}
	containers := apps.Components.Schemas["io.k8s.api.core.v1.PodSpec"].Properties["containers"]
	for k, want := range map[string]any{"x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name",
		"x-kubernetes-list-type": "map"} {
		if got := containers.Extensions[k]; got != want {
			t.Errorf("PodSpec.containers %s = %v, want %v", k, got, want)
		}
	}
	if !strings.HasPrefix(containers.Description, "List of containers belonging to the pod.") {
		t.Errorf("PodSpec.containers description: %q", containers.Description)
	}

	// Every kind discovery lists has its schema, and every operation its
	// path: the access reviews and serviceaccounts/token (TokenRequest),
	// answered without storage, too. The metrics groups are not described.
	var v2gvk struct {
		Definitions map[string]struct {
			GVK []map[string]string `json:"x-kubernetes-group-version-kind"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(r.body, &v2gvk); err != nil {
		t.Fatal(err)
	}
	kinds := map[schema.GroupVersionKind]bool{}
	for _, d := range v2gvk.Definitions {
		for _, g := range d.GVK {
			kinds[schema.GroupVersionKind{Group: g["group"], Version: g["version"], Kind: g["kind"]}] = true
		}
	}
	_, lists, err := a.cs.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		if strings.HasSuffix(gv.Group, "metrics.k8s.io") {
			continue
		}
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") && res.Name != "serviceaccounts/token" {
				continue // other subresources: the object's kind, Scale, Binding, streams
			}
			want := gv.WithKind(res.Kind)
			if res.Group != "" {
				want = schema.GroupVersionKind{Group: res.Group, Version: res.Version, Kind: res.Kind}
			}
			if !kinds[want] {
				t.Errorf("%s %s: no definition of %s in /openapi/v2", l.GroupVersion, res.Name, want)
			}
		}
	}
	for _, p := range []string{"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
		"/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews", "/apis/authentication.k8s.io/v1/selfsubjectreviews"} {
		if _, ok := v2.Paths[p]; !ok {
			t.Errorf("v2 lacks path %s", p)
		}
	}

	// Documents are for authenticated users, as the rest of the API.
	a.doAs("", "GET", "/openapi/v3", "").must(t, http.StatusUnauthorized)
	a.doAs(a.viewer, "GET", "/openapi/v3", "").must(t, http.StatusOK)
}

func schemaGV(group, version string) schema.GroupVersion {
	return schema.GroupVersion{Group: group, Version: version}
}

// noRedirects is a with a client that returns redirects instead of
// following them.
func (a *api) noRedirects() *api {
	c := *a
	hc := *a.http
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	return &c
}

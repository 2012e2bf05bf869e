package apiserver_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
)

// svcJSON is a Service body with one port; extra is spliced into spec.
func svcJSON(name, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Service","metadata":{"name":%q},"spec":{"ports":[{"port":80}]%s}}`, name, extra)
}

// applyYAML is an applied configuration of the fixture Service.
const applyYAML = "apiVersion: v1\nkind: Service\nmetadata:\n  name: fixture\nspec:\n  ports: [{port: 80}]\n"

// TestBadInput sends requests a client can get wrong. Each is answered with
// a 4xx Status naming the problem, nothing is stored, and the server goes on
// serving.
func TestBadInput(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("bad")
	const svcs = "/api/v1/namespaces/bad/services"

	// A fixture whose first version is stale by the time the table runs.
	r := a.do("POST", svcs, svcJSON("fixture", `"clusterIP":"10.96.7.7"`)).must(t, http.StatusCreated)
	var stale corev1.Service
	r.into(t, &stale)
	a.do("PATCH", svcs+"/fixture", `{"metadata":{"labels":{"v":"2"}}}`, "Content-Type", "application/merge-patch+json").must(t, http.StatusOK)
	stale.Spec.Ports[0].Port = 81
	fixtureRV := a.resourceVersion(svcs + "/fixture")

	big := `{"metadata":{"name":"big","annotations":{"a":"` + strings.Repeat("x", 3<<20) + `"}},"spec":{"ports":[{"port":80}]}}`
	tests := []struct {
		name         string
		method, path string
		contentType  string
		body         string
		code         int
		reason       metav1.StatusReason
		msg          []string
		field        string // a cause naming this field
	}{
		{name: "malformed JSON", method: "POST", path: svcs, body: `{"metadata":{"name":"x"},`,
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"could not be decoded", "Service"}},
		{name: "wrong JSON type", method: "POST", path: svcs, body: `{"metadata":{"name":"x"},"spec":{"ports":"80"}}`,
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"could not be decoded"}},
		{name: "malformed YAML", method: "POST", path: svcs, contentType: "application/yaml", body: "metadata:\n  name: [x\n",
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"unknown format"}},
		{name: "unknown field under Strict", method: "POST", path: svcs + "?fieldValidation=Strict",
			body: svcJSON("x", `"foo":1`), code: 422, reason: metav1.StatusReasonInvalid,
			msg: []string{`Service "x" is invalid`, "spec.foo", "unknown field"}, field: "spec.foo"},
		{name: "duplicate field under Strict", method: "POST", path: svcs + "?fieldValidation=Strict",
			body: `{"metadata":{"name":"x","name":"y"},"spec":{"ports":[{"port":80}]}}`, code: 422, reason: metav1.StatusReasonInvalid,
			msg: []string{"duplicate field", "metadata.name"}, field: "metadata.name"},
		{name: "unsupported fieldValidation", method: "POST", path: svcs + "?fieldValidation=Loose", body: svcJSON("x", ""),
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"fieldValidation", "Loose"}},
		{name: "name with underscore", method: "POST", path: svcs, body: svcJSON("bad_name", ""),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"metadata.name", "bad_name"}, field: "metadata.name"},
		{name: "name with upper case", method: "POST", path: svcs, body: svcJSON("Web", ""),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"metadata.name"}, field: "metadata.name"},
		{name: "service name starting with a digit", method: "POST", path: svcs, body: svcJSON("1web", ""),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"metadata.name"}, field: "metadata.name"},
		{name: "name too long", method: "POST", path: svcs, body: svcJSON(strings.Repeat("a", 64), ""),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"metadata.name"}, field: "metadata.name"},
		{name: "no name", method: "POST", path: svcs, body: `{"spec":{"ports":[{"port":80}]}}`,
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"metadata.name"}, field: "metadata.name"},
		{name: "port too large", method: "POST", path: svcs,
			body: `{"metadata":{"name":"x"},"spec":{"ports":[{"port":70000}]}}`,
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"spec.ports[0].port"}, field: "spec.ports[0].port"},
		{name: "port zero", method: "POST", path: svcs,
			body: `{"metadata":{"name":"x"},"spec":{"ports":[{"port":0}]}}`,
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"spec.ports[0].port"}, field: "spec.ports[0].port"},
		{name: "duplicate port names", method: "POST", path: svcs,
			body: `{"metadata":{"name":"x"},"spec":{"ports":[{"name":"http","port":80},{"name":"http","port":81}]}}`,
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"spec.ports[1].name"}, field: "spec.ports[1].name"},
		{name: "clusterIP taken by the fixture", method: "POST", path: svcs, body: svcJSON("x", `"clusterIP":"10.96.7.7"`),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"spec.clusterIP", "already allocated"}, field: "spec.clusterIP"},
		{name: "clusterIP of the kubernetes service", method: "POST", path: svcs, body: svcJSON("x", `"clusterIP":"10.96.0.1"`),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"spec.clusterIP", "already allocated"}, field: "spec.clusterIP"},
		{name: "clusterIP outside the range", method: "POST", path: svcs, body: svcJSON("x", `"clusterIP":"10.97.0.5"`),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"spec.clusterIP", "10.96.0.0/16"}, field: "spec.clusterIP"},
		{name: "clusterIP is the network address", method: "POST", path: svcs, body: svcJSON("x", `"clusterIP":"10.96.0.0"`),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"spec.clusterIP"}, field: "spec.clusterIP"},
		{name: "clusterIP not an address", method: "POST", path: svcs, body: svcJSON("x", `"clusterIP":"ten"`),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"spec.clusterIP"}, field: "spec.clusterIP"},
		{name: "stale resourceVersion on PUT", method: "PUT", path: svcs + "/fixture", body: mustJSON(t, &stale),
			code: 409, reason: metav1.StatusReasonConflict, msg: []string{`services "fixture"`, "modified"}},
		{name: "resourceVersion set on create", method: "POST", path: svcs,
			body: `{"metadata":{"name":"x","resourceVersion":"5"},"spec":{"ports":[{"port":80}]}}`,
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"resourceVersion"}},
		{name: "body over 3 MiB", method: "POST", path: svcs, body: big,
			code: 413, reason: metav1.StatusReasonRequestEntityTooLarge, msg: []string{"limit is 3145728 bytes"}},
		{name: "kind mismatch", method: "POST", path: svcs, body: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`,
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"Pod", "Service"}},
		{name: "group mismatch", method: "POST", path: svcs, body: `{"apiVersion":"apps/v1","kind":"Service","metadata":{"name":"x"}}`,
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"apps/v1"}},
		{name: "namespace mismatch", method: "POST", path: svcs,
			body: `{"metadata":{"name":"x","namespace":"default"},"spec":{"ports":[{"port":80}]}}`,
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"default", "bad"}},
		{name: "namespace does not exist", method: "POST", path: "/api/v1/namespaces/nope/services", body: svcJSON("x", ""),
			code: 404, reason: metav1.StatusReasonNotFound, msg: []string{`namespaces "nope" not found`}},
		{name: "unknown resource", method: "GET", path: "/api/v1/namespaces/bad/widgets",
			code: 404, reason: metav1.StatusReasonNotFound, msg: []string{`could not find the requested resource "widgets"`}},
		{name: "unknown group", method: "GET", path: "/apis/example.com/v1/namespaces/bad/widgets",
			code: 404, reason: metav1.StatusReasonNotFound, msg: []string{`"widgets" in example.com/v1`}},
		{name: "cluster-scoped resource in a namespace", method: "GET", path: "/api/v1/namespaces/bad/nodes",
			code: 404, reason: metav1.StatusReasonNotFound, msg: []string{`"nodes"`}},
		{name: "unknown subresource", method: "GET", path: svcs + "/fixture/scale",
			code: 404, reason: metav1.StatusReasonNotFound, msg: []string{"fixture/scale"}},
		{name: "missing object", method: "GET", path: svcs + "/ghost",
			code: 404, reason: metav1.StatusReasonNotFound, msg: []string{`services "ghost" not found`}},
		{name: "invalid label selector", method: "GET", path: svcs + "?labelSelector=app+in+(web",
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{`labelSelector "app in (web"`, "unable to parse requirement"}},
		{name: "invalid label selector on watch", method: "GET", path: svcs + "?watch=true&labelSelector=a%3D%3D%3Db",
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"unable to parse requirement"}},
		{name: "unsupported field selector", method: "GET", path: svcs + "?fieldSelector=spec.clusterIP%3D10.96.0.1",
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"field label not supported: spec.clusterIP"}},
		{name: "malformed field selector", method: "GET", path: svcs + "?fieldSelector=metadata.name",
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"invalid field selector"}},
		{name: "invalid limit", method: "GET", path: svcs + "?limit=-1",
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"limit"}},
		{name: "invalid resourceVersion on watch", method: "GET", path: svcs + "?watch=true&resourceVersion=abc",
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{`"abc"`}},
		{name: "unsupported patch type", method: "PATCH", path: svcs + "/fixture", contentType: "text/plain", body: `{"spec":{}}`,
			code: 415, reason: metav1.StatusReasonUnsupportedMediaType, msg: []string{"text/plain"}},
		// Server-side apply: Kubernetes' texts (ValidatePatchOptions is a
		// 422, the apply patcher's decoding a 400).
		{name: "apply without fieldManager", method: "PATCH", path: svcs + "/fixture", contentType: "application/apply-patch+yaml",
			body: applyYAML, code: 422, reason: metav1.StatusReasonInvalid,
			msg: []string{"fieldManager: Required value: is required for apply patch"}, field: "fieldManager"},
		{name: "apply of malformed YAML", method: "PATCH", path: svcs + "/fixture?fieldManager=t", contentType: "application/apply-patch+yaml",
			body: "apiVersion: v1\nkind: Service\nmetadata:\n  name: [fixture\n", code: 400, reason: metav1.StatusReasonBadRequest,
			msg: []string{"error decoding YAML", "line 4"}},
		{name: "apply of an unknown field", method: "PATCH", path: svcs + "/fixture?fieldManager=t", contentType: "application/apply-patch+yaml",
			body: applyYAML + "  bogus: 1\n", code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{".spec.bogus", "field not declared in schema"}},
		{name: "apply of a duplicate field under Strict", method: "PATCH", path: svcs + "/fixture?fieldManager=t&fieldValidation=Strict",
			contentType: "application/apply-patch+yaml", body: applyYAML + "  type: ClusterIP\n  type: ClusterIP\n",
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"error strict decoding YAML", `"type"`}},
		{name: "apply of another kind", method: "PATCH", path: svcs + "/fixture?fieldManager=t", contentType: "application/apply-patch+yaml",
			body: strings.Replace(applyYAML, "kind: Service", "kind: Pod", 1), code: 400, reason: metav1.StatusReasonBadRequest,
			msg: []string{"v1 Pod", "endpoint of v1 Service"}},
		{name: "apply naming another object", method: "PATCH", path: svcs + "/fixture?fieldManager=t", contentType: "application/apply-patch+yaml",
			body: strings.Replace(applyYAML, "name: fixture", "name: other", 1), code: 400, reason: metav1.StatusReasonBadRequest,
			msg: []string{"(other) does not match the name on the URL (fixture)"}},
		{name: "apply with managedFields", method: "PATCH", path: svcs + "/fixture?fieldManager=t", contentType: "application/apply-patch+yaml",
			body: strings.Replace(applyYAML, "name: fixture", "name: fixture\n  managedFields: [{manager: x}]", 1),
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"metadata.managedFields must be nil"}},
		{name: "force on a merge patch", method: "PATCH", path: svcs + "/fixture?force=true", contentType: "application/merge-patch+json",
			body: `{"spec":{}}`, code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"force: Forbidden: may not be specified for non-apply patch"}},
		{name: "unprintable field manager", method: "POST", path: svcs + "?fieldManager=a%07b", body: svcJSON("x", ""),
			code: 422, reason: metav1.StatusReasonInvalid, msg: []string{"fieldManager: Invalid value", "invalid character"}},
		{name: "malformed JSON patch", method: "PATCH", path: svcs + "/fixture", contentType: "application/json-patch+json",
			body: `{"op":"add"}`, code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"JSON patch"}},
		{name: "JSON patch test fails", method: "PATCH", path: svcs + "/fixture", contentType: "application/json-patch+json",
			body: `[{"op":"test","path":"/metadata/labels/v","value":"1"}]`, code: 422, reason: metav1.StatusReasonInvalid},
		{name: "patch makes the object invalid", method: "PATCH", path: svcs + "/fixture", contentType: "application/merge-patch+json",
			body: `{"spec":{"ports":[{"port":99999}]}}`, code: 422, reason: metav1.StatusReasonInvalid,
			msg: []string{"spec.ports[0].port"}, field: "spec.ports[0].port"},
		{name: "patch renames the object", method: "PATCH", path: svcs + "/fixture", contentType: "application/merge-patch+json",
			body: `{"metadata":{"name":"other"}}`, code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"other", "fixture"}},
		{name: "PUT changes the clusterIP", method: "PUT", path: svcs + "/fixture",
			body: svcJSON("fixture", `"clusterIP":"10.96.7.8"`), code: 422, reason: metav1.StatusReasonInvalid,
			msg: []string{"spec.clusterIP"}, field: "spec.clusterIP"},
		{name: "unsupported dryRun", method: "POST", path: svcs + "?dryRun=Some", body: svcJSON("x", ""),
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"dryRun"}},
		{name: "unsupported propagationPolicy", method: "DELETE", path: svcs + "/fixture?propagationPolicy=Never",
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"Never"}},
		{name: "malformed DeleteOptions", method: "DELETE", path: svcs + "/fixture", body: `{"preconditions":`,
			code: 400, reason: metav1.StatusReasonBadRequest, msg: []string{"DeleteOptions"}},
		{name: "unsupported method", method: "POST", path: svcs + "/fixture", body: svcJSON("fixture", ""),
			code: 405, reason: metav1.StatusReasonMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.contentType != "" {
				hdr = []string{"Content-Type", tc.contentType}
			}
			st := a.do(tc.method, tc.path, tc.body, hdr...).wantStatus(t, tc.code, tc.reason, tc.msg...)
			if tc.field != "" {
				var fields []string
				if st.Details != nil {
					for _, c := range st.Details.Causes {
						fields = append(fields, c.Field)
					}
				}
				if !slices.Contains(fields, tc.field) {
					t.Errorf("causes name fields %q, want %q", fields, tc.field)
				}
			}
			// Nothing was stored, and the server still serves.
			if got := a.names(svcs); !slices.Equal(got, []string{"fixture"}) {
				t.Errorf("services after the request: %q, want only the fixture", got)
			}
			if rv := a.resourceVersion(svcs + "/fixture"); rv != fixtureRV {
				t.Errorf("fixture changed: resourceVersion %s, want %s", rv, fixtureRV)
			}
			a.doAs("", "GET", "/healthz", "").must(t, http.StatusOK)
		})
	}
}

// TestAcceptedInput: bodies Kubernetes accepts although they are not plain
// strict JSON.
func TestAcceptedInput(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("ok")
	const svcs = "/api/v1/namespaces/ok/services"
	tests := []struct {
		name, path, contentType, body string
		warning                       string // a Warning header containing this
	}{
		{name: "YAML", path: svcs, contentType: "application/yaml",
			body: "apiVersion: v1\nkind: Service\nmetadata:\n  name: yaml\nspec:\n  ports:\n  - port: 80\n"},
		{name: "YAML with charset", path: svcs, contentType: "application/yaml; charset=utf-8",
			body: "metadata: {name: yaml2}\nspec: {ports: [{port: 80}]}\n"},
		{name: "unknown field under default Warn", path: svcs, body: svcJSON("warned", `"foo":1`), warning: "spec.foo"},
		{name: "unknown field under Warn", path: svcs + "?fieldValidation=Warn", body: svcJSON("warned2", `"foo":1`), warning: "spec.foo"},
		{name: "unknown field under Ignore", path: svcs + "?fieldValidation=Ignore", body: svcJSON("ignored", `"foo":1`)},
		{name: "no apiVersion and kind", path: svcs, body: `{"metadata":{"name":"bare"},"spec":{"ports":[{"port":80}]}}`},
		{name: "generateName", path: svcs, body: `{"metadata":{"generateName":"gen-"},"spec":{"ports":[{"port":80}]}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.contentType != "" {
				hdr = []string{"Content-Type", tc.contentType}
			}
			r := a.do("POST", tc.path, tc.body, hdr...).must(t, http.StatusCreated)
			var svc corev1.Service
			r.into(t, &svc)
			if svc.Kind != "Service" || svc.APIVersion != "v1" || svc.UID == "" || svc.ResourceVersion == "" || svc.Spec.ClusterIP == "" {
				t.Errorf("created %s %s uid=%q rv=%q clusterIP=%q: want a stored Service", svc.APIVersion, svc.Kind, svc.UID, svc.ResourceVersion, svc.Spec.ClusterIP)
			}
			a.do("GET", svcs+"/"+svc.Name, "").must(t, http.StatusOK)
			warnings := strings.Join(r.header.Values("Warning"), "\n")
			switch {
			case tc.warning == "" && warnings != "":
				t.Errorf("unexpected Warning headers: %s", warnings)
			case tc.warning != "" && !strings.Contains(warnings, tc.warning):
				t.Errorf("Warning headers %q do not name %s", warnings, tc.warning)
			case tc.warning != "" && !strings.HasPrefix(warnings, "299 - "):
				t.Errorf("Warning header %q is not a 299 warning", warnings)
			}
		})
	}
}

// names lists the names of the objects at a collection path.
func (a *api) names(path string) []string {
	a.t.Helper()
	var l metav1.PartialObjectMetadataList
	a.do("GET", path, "").must(a.t, http.StatusOK).into(a.t, &l)
	var out []string
	for _, o := range l.Items {
		out = append(out, o.Name)
	}
	slices.Sort(out)
	return out
}

// resourceVersion is the current resourceVersion of the object at path.
func (a *api) resourceVersion(path string) string {
	a.t.Helper()
	var o metav1.PartialObjectMetadata
	a.do("GET", path, "").must(a.t, http.StatusOK).into(a.t, &o)
	return o.ResourceVersion
}

package apiserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoalmesh/shoal/cluster/clustertest"
)

func deployment(name string, replicas int32, containers ...string) *appsv1.Deployment {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}},
		},
	}
	for _, c := range containers {
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: c, Image: c + ":1"})
	}
	return d
}

func (a *api) createDeployment(ns string, d *appsv1.Deployment) *appsv1.Deployment {
	a.t.Helper()
	var out appsv1.Deployment
	a.do("POST", "/apis/apps/v1/namespaces/"+ns+"/deployments", mustJSON(a.t, d)).must(a.t, http.StatusCreated).into(a.t, &out)
	return &out
}

func images(d *appsv1.Deployment) []string {
	var out []string
	for _, c := range d.Spec.Template.Spec.Containers {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}

func TestPatch(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("p")
	const deploys = "/apis/apps/v1/namespaces/p/deployments"
	start := a.createDeployment("p", deployment("web", 1, "app", "sidecar"))

	tests := []struct {
		name, patchType, patch string
		code                   int
		check                  func(t *testing.T, d *appsv1.Deployment)
	}{
		{name: "strategic merge merges containers by name", patchType: "application/strategic-merge-patch+json",
			patch: `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"sidecar:2"}]}}}}`, code: 200,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if got := images(d); !slices.Equal(got, []string{"app=app:1", "sidecar=sidecar:2"}) {
					t.Errorf("containers %q, want app:1 kept and sidecar:2", got)
				}
			}},
		{name: "strategic merge deletes by name", patchType: "application/strategic-merge-patch+json",
			patch: `{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}`, code: 200,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if got := images(d); !slices.Equal(got, []string{"app=app:1"}) {
					t.Errorf("containers %q, want only app", got)
				}
			}},
		{name: "merge patch replaces lists and merges maps", patchType: "application/merge-patch+json",
			patch: `{"metadata":{"labels":{"team":"a"}},"spec":{"template":{"spec":{"containers":[{"name":"only","image":"only:1"}]}}}}`, code: 200,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if got := images(d); !slices.Equal(got, []string{"only=only:1"}) {
					t.Errorf("containers %q, want the list replaced", got)
				}
				if d.Labels["team"] != "a" {
					t.Errorf("labels %v", d.Labels)
				}
			}},
		{name: "merge patch removes with null", patchType: "application/merge-patch+json",
			patch: `{"metadata":{"labels":{"team":null}}}`, code: 200,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if _, ok := d.Labels["team"]; ok {
					t.Errorf("labels %v, want team removed", d.Labels)
				}
			}},
		{name: "JSON patch", patchType: "application/json-patch+json",
			patch: `[{"op":"replace","path":"/spec/replicas","value":3},{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]`, code: 200,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if *d.Spec.Replicas != 3 || d.Annotations["a"] != "b" {
					t.Errorf("replicas %d annotations %v, want 3 and a=b", *d.Spec.Replicas, d.Annotations)
				}
			}},
		{name: "current resourceVersion is a precondition that holds", patchType: "application/merge-patch+json",
			patch: `{"metadata":{"resourceVersion":"CURRENT","labels":{"rv":"ok"}}}`, code: 200,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if d.Labels["rv"] != "ok" {
					t.Errorf("labels %v", d.Labels)
				}
			}},
		{name: "stale resourceVersion is a conflict", patchType: "application/merge-patch+json",
			patch: fmt.Sprintf(`{"metadata":{"resourceVersion":%q,"labels":{"rv":"stale"}}}`, start.ResourceVersion), code: 409},
		{name: "stale resourceVersion in a JSON patch", patchType: "application/json-patch+json",
			patch: fmt.Sprintf(`[{"op":"replace","path":"/metadata/resourceVersion","value":%q}]`, start.ResourceVersion), code: 409},
		{name: "invalid result", patchType: "application/merge-patch+json", patch: `{"spec":{"replicas":-1}}`, code: 422},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := *a
			a.t = t
			// A controller may write the object too; a precondition on the
			// current resourceVersion is retried if it loses that race.
			var before *appsv1.Deployment
			var r reply
			for range 5 {
				before = a.getDeployment("p", "web")
				r = a.do("PATCH", deploys+"/web", strings.ReplaceAll(tc.patch, "CURRENT", before.ResourceVersion), "Content-Type", tc.patchType)
				if !strings.Contains(tc.patch, "CURRENT") || r.code != http.StatusConflict {
					break
				}
			}
			if tc.code != 200 {
				st := r.wantStatus(t, tc.code, map[int]metav1.StatusReason{409: metav1.StatusReasonConflict, 422: metav1.StatusReasonInvalid}[tc.code])
				after := a.getDeployment("p", "web")
				if !reflect.DeepEqual(after.Spec, before.Spec) || !reflect.DeepEqual(after.Labels, before.Labels) {
					t.Errorf("refused patch (%s) changed the object", st.Message)
				}
				return
			}
			var got appsv1.Deployment
			r.must(t, 200).into(t, &got)
			tc.check(t, &got)
			if rvOf(t, got.ResourceVersion) <= rvOf(t, before.ResourceVersion) {
				t.Errorf("resourceVersion %s after the patch, want newer than %s", got.ResourceVersion, before.ResourceVersion)
			}
			tc.check(t, a.getDeployment("p", "web")) // stored, not only answered
		})
	}

	t.Run("client-go patch types", func(t *testing.T) {
		d, err := a.cs.AppsV1().Deployments("p").Patch(t.Context(), "web", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"only:9"}]}}}}`), metav1.PatchOptions{})
		if err != nil || !slices.Equal(images(d), []string{"only=only:9"}) {
			t.Fatalf("strategic merge patch: %v %v", err, d)
		}
		_, err = a.cs.AppsV1().Deployments("p").Patch(t.Context(), "ghost", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("patch of a missing object: %v, want NotFound", err)
		}
	})
}

func (a *api) getDeployment(ns, name string) *appsv1.Deployment {
	a.t.Helper()
	var d appsv1.Deployment
	a.do("GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, "").must(a.t, 200).into(a.t, &d)
	return &d
}

func TestStatusSubresource(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	const svc = "/api/v1/namespaces/default/services/st"
	created := a.createService("default", "st", nil)

	// PUT to /status with a changed spec: only the status is taken.
	obj := created.DeepCopy()
	obj.Spec.Ports[0].Port = 81
	obj.Labels = map[string]string{"ignored": "yes"}
	obj.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.50.1"}}
	var got corev1.Service
	a.do("PUT", svc+"/status", mustJSON(t, obj)).must(t, 200).into(t, &got)
	if len(got.Status.LoadBalancer.Ingress) != 1 || got.Status.LoadBalancer.Ingress[0].IP != "192.168.50.1" {
		t.Errorf("status after PUT /status: %+v", got.Status)
	}
	if got.Spec.Ports[0].Port != 80 || got.Labels["ignored"] != "" {
		t.Errorf("PUT /status changed spec or metadata: port %d labels %v", got.Spec.Ports[0].Port, got.Labels)
	}

	// PATCH /status likewise.
	a.mergePatch(svc+"/status", `{"spec":{"ports":[{"port":82}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.168.50.2"}]}}}`).must(t, 200).into(t, &got)
	if got.Status.LoadBalancer.Ingress[0].IP != "192.168.50.2" || got.Spec.Ports[0].Port != 80 {
		t.Errorf("after PATCH /status: ingress %v port %d, want 192.168.50.2 and 80", got.Status.LoadBalancer.Ingress, got.Spec.Ports[0].Port)
	}

	// PUT to the main resource ignores status but takes spec.
	obj = got.DeepCopy()
	obj.Spec.Ports[0].Port = 83
	obj.Status.LoadBalancer.Ingress = nil
	a.do("PUT", svc, mustJSON(t, obj)).must(t, 200).into(t, &got)
	if got.Spec.Ports[0].Port != 83 || len(got.Status.LoadBalancer.Ingress) != 1 {
		t.Errorf("after PUT: port %d ingress %v, want 83 and the status kept", got.Spec.Ports[0].Port, got.Status.LoadBalancer.Ingress)
	}
	// And a status set on create is dropped.
	withStatus := `{"metadata":{"name":"st2"},"spec":{"ports":[{"port":80}]},"status":{"loadBalancer":{"ingress":[{"ip":"192.168.50.3"}]}}}`
	var fresh corev1.Service
	a.do("POST", "/api/v1/namespaces/default/services", withStatus).must(t, 201).into(t, &fresh)
	if len(fresh.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("status set on create was kept: %v", fresh.Status)
	}
	// client-go's UpdateStatus (a protobuf body) likewise.
	cur, err := a.cs.CoreV1().Services("default").Get(t.Context(), "st", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Ports[0].Port = 84
	cur.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.50.4"}}
	upd, err := a.cs.CoreV1().Services("default").UpdateStatus(t.Context(), cur, metav1.UpdateOptions{})
	if err != nil || upd.Spec.Ports[0].Port != 83 || upd.Status.LoadBalancer.Ingress[0].IP != "192.168.50.4" {
		t.Errorf("UpdateStatus: %v; port %d status %v, want 83 and 192.168.50.4", err, upd.Spec.Ports[0].Port, upd.Status)
	}
	// Endpoints have no status subresource.
	a.do("GET", "/api/v1/namespaces/default/endpoints/kubernetes/status", "").wantStatus(t, 404, metav1.StatusReasonNotFound)
}

func TestScaleAndGeneration(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	const deploy = "/apis/apps/v1/namespaces/default/deployments/sc"
	d := a.createDeployment("default", deployment("sc", 2, "app"))
	if d.Generation != 1 {
		t.Errorf("generation on create %d, want 1", d.Generation)
	}

	var sc autoscalingv1.Scale
	a.do("GET", deploy+"/scale", "").must(t, 200).into(t, &sc)
	if sc.APIVersion != "autoscaling/v1" || sc.Kind != "Scale" || sc.Name != "sc" || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=sc" {
		t.Fatalf("GET scale = %+v", sc)
	}
	a.mergePatch(deploy+"/scale", `{"spec":{"replicas":5}}`).must(t, 200).into(t, &sc)
	if sc.Kind != "Scale" || sc.Spec.Replicas != 5 {
		t.Fatalf("PATCH scale = %+v, want a Scale of 5", sc)
	}
	if d = a.getDeployment("default", "sc"); *d.Spec.Replicas != 5 || d.Generation != 2 || rvOf(t, d.ResourceVersion) < rvOf(t, sc.ResourceVersion) {
		t.Errorf("after scaling: replicas %d generation %d rv %s; want 5, 2, at least %s", *d.Spec.Replicas, d.Generation, d.ResourceVersion, sc.ResourceVersion)
	}
	// client-go's typed scale client, as kubectl scale and the HPA use it.
	got, err := a.cs.AppsV1().Deployments("default").UpdateScale(t.Context(), "sc",
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "sc", Namespace: "default"}, Spec: autoscalingv1.ScaleSpec{Replicas: 1}}, metav1.UpdateOptions{})
	if err != nil || got.Spec.Replicas != 1 {
		t.Fatalf("UpdateScale: %v %+v", err, got)
	}
	stale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "sc", ResourceVersion: sc.ResourceVersion}, Spec: autoscalingv1.ScaleSpec{Replicas: 7}}
	a.do("PUT", deploy+"/scale", mustJSON(t, stale)).wantStatus(t, 409, metav1.StatusReasonConflict)
	a.mergePatch(deploy+"/scale", `{"spec":{"replicas":-1}}`).wantStatus(t, 422, metav1.StatusReasonInvalid, "spec.replicas")
	a.do("GET", "/api/v1/namespaces/default/services/kubernetes/scale", "").wantStatus(t, 404, metav1.StatusReasonNotFound)

	// metadata.generation moves with the spec only.
	gen := a.getDeployment("default", "sc").Generation
	steps := []struct {
		name, path, patch string
		bump              bool
	}{
		{"label", deploy, `{"metadata":{"labels":{"a":"b"}}}`, false},
		{"annotation", deploy, `{"metadata":{"annotations":{"a":"b"}}}`, false},
		{"status", deploy + "/status", `{"status":{"replicas":3,"observedGeneration":1}}`, false},
		{"replicas", deploy, `{"spec":{"replicas":4}}`, true},
		{"image", deploy, `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"}]}}}}`, true},
		{"no-op", deploy, `{"spec":{"replicas":4}}`, false},
		{"generation in the body", deploy, `{"metadata":{"generation":99}}`, false},
	}
	for _, st := range steps {
		var d appsv1.Deployment
		a.mergePatch(st.path, st.patch).must(t, 200).into(t, &d)
		want := gen
		if st.bump {
			want++
		}
		if d.Generation != want {
			t.Errorf("%s change: generation %d, want %d", st.name, d.Generation, want)
		}
		gen = d.Generation
	}
}

func TestListPaging(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("pg")
	// Leases: no controller writes them behind the test's back.
	const eps = "/apis/coordination.k8s.io/v1/namespaces/pg/leases"
	var want []string
	for i := range 23 {
		name := fmt.Sprintf("e%02d", i)
		a.do("POST", eps, `{"metadata":{"name":"`+name+`"}}`).must(t, 201)
		want = append(want, name)
	}
	for _, limit := range []int{1, 5, 22, 23, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			a := *a
			a.t = t
			var got []string
			rv, cont, pages, changed := "", "", 0, false
			for {
				var l coordinationv1.LeaseList
				a.do("GET", fmt.Sprintf("%s?limit=%d&continue=%s", eps, limit, url.QueryEscape(cont)), "").must(t, 200).into(t, &l)
				pages++
				if len(l.Items) > limit {
					t.Fatalf("page of %d items, limit %d", len(l.Items), limit)
				}
				if rv == "" {
					rv = l.ResourceVersion
				} else if l.ResourceVersion != rv {
					t.Errorf("page %d at resourceVersion %s, first page %s", pages, l.ResourceVersion, rv)
				}
				if l.Kind != "LeaseList" || l.APIVersion != "coordination.k8s.io/v1" {
					t.Errorf("page is %s %s", l.APIVersion, l.Kind)
				}
				for _, e := range l.Items {
					got = append(got, e.Name)
				}
				if l.Continue == "" {
					break
				}
				if !changed {
					// A change mid-way is not seen: the pages are one snapshot.
					a.do("POST", eps, `{"metadata":{"name":"late"}}`).must(t, 201)
					a.do("DELETE", eps+"/e22", "").must(t, 200)
					changed = true
				}
				cont = l.Continue
			}
			if !slices.Equal(got, want) {
				t.Errorf("paged list returned %q, want each of %q once", got, want)
			}
			if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
			if changed {
				// Undo the change for the next round.
				a.do("POST", eps, `{"metadata":{"name":"e22"}}`).must(t, 201)
				a.do("DELETE", eps+"/late", "").must(t, 200)
			}
		})
	}
	t.Run("bad continue", func(t *testing.T) {
		a.do("GET", eps+"?limit=5&continue=garbage", "").wantStatus(t, 400, metav1.StatusReasonBadRequest)
	})
	t.Run("client-go", func(t *testing.T) {
		l, err := a.cs.CoordinationV1().Leases("pg").List(t.Context(), metav1.ListOptions{Limit: 4})
		if err != nil || len(l.Items) != 4 || l.Continue == "" {
			t.Fatalf("list with limit: %v %d %q", err, len(l.Items), l.Continue)
		}
		l, err = a.cs.CoordinationV1().Leases("pg").List(t.Context(), metav1.ListOptions{Limit: 100, Continue: l.Continue})
		if err != nil || len(l.Items) != len(want)-4 || l.Continue != "" {
			t.Fatalf("second page: %v %d %q", err, len(l.Items), l.Continue)
		}
		err = a.cs.CoordinationV1().Leases("pg").DeleteCollection(t.Context(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "!keep"})
		if err != nil {
			t.Fatalf("delete collection: %v", err)
		}
		if names := a.names(eps); len(names) != 0 {
			t.Errorf("after deletecollection: %q", names)
		}
	})
}

func TestDeleteAndClusterIPReuse(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	const svcs = "/api/v1/namespaces/default/services"
	body := svcJSON("d1", `"clusterIP":"10.96.9.9"`)
	var svc corev1.Service
	a.do("POST", svcs, body).must(t, 201).into(t, &svc)

	pre := func(uid, rv string) string {
		o := metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}, Preconditions: &metav1.Preconditions{}}
		if uid != "" {
			u := types.UID(uid)
			o.Preconditions.UID = &u
		}
		if rv != "" {
			o.Preconditions.ResourceVersion = &rv
		}
		return mustJSON(t, o)
	}
	a.do("DELETE", svcs+"/d1", pre("6a1b2c3d-0000-0000-0000-000000000000", "")).wantStatus(t, 409, metav1.StatusReasonConflict, "UID")
	a.mergePatch(svcs+"/d1", `{"metadata":{"labels":{"v":"2"}}}`).must(t, 200)
	a.do("DELETE", svcs+"/d1", pre("", svc.ResourceVersion)).wantStatus(t, 409, metav1.StatusReasonConflict, "ResourceVersion")
	a.do("GET", svcs+"/d1", "").must(t, 200)
	// Taken while d1 lives.
	a.do("POST", svcs, svcJSON("d2", `"clusterIP":"10.96.9.9"`)).wantStatus(t, 422, metav1.StatusReasonInvalid, "already allocated")

	var gone corev1.Service
	a.do("DELETE", svcs+"/d1", pre(string(svc.UID), "")).must(t, 200).into(t, &gone)
	if gone.Name != "d1" || gone.UID != svc.UID {
		t.Errorf("DELETE answered %s/%s, want the deleted object", gone.Name, gone.UID)
	}
	a.do("GET", svcs+"/d1", "").wantStatus(t, 404, metav1.StatusReasonNotFound)
	a.do("DELETE", svcs+"/d1", "").wantStatus(t, 404, metav1.StatusReasonNotFound)

	// The address is free again, at once.
	a.do("POST", svcs, svcJSON("d2", `"clusterIP":"10.96.9.9"`)).must(t, 201)
	// And a dry-run delete keeps it.
	a.do("DELETE", svcs+"/d2?dryRun=All", "").must(t, 200)
	a.do("POST", svcs, svcJSON("d3", `"clusterIP":"10.96.9.9"`)).wantStatus(t, 422, metav1.StatusReasonInvalid, "already allocated")
	// Through client-go, with a UID precondition.
	d2, err := a.cs.CoreV1().Services("default").Get(t.Context(), "d2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cs.CoreV1().Services("default").Delete(t.Context(), "d2", *metav1.NewPreconditionDeleteOptions(string(d2.UID))); err != nil {
		t.Fatalf("delete with the right UID: %v", err)
	}
	a.do("POST", svcs, svcJSON("d3", `"clusterIP":"10.96.9.9"`)).must(t, 201)
}

func TestTableOutput(t *testing.T) {
	a := startAPI(t, clustertest.Options{})
	a.createNamespace("tb")
	a.createService("tb", "t1", map[string]string{"app": "x"})
	a.createService("tb", "t2", nil)
	const svcs = "/api/v1/namespaces/tb/services"
	const asTable = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"
	tests := []struct {
		name, query string
		rows        []string
		objects     bool
	}{
		{"default", "", []string{"t1", "t2"}, true},
		{"includeObject=Metadata", "?includeObject=Metadata", []string{"t1", "t2"}, true},
		{"includeObject=None", "?includeObject=None", []string{"t1", "t2"}, false},
		{"label selector", "?labelSelector=app%3Dx&includeObject=Metadata", []string{"t1"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tbl metav1.Table
			a.do("GET", svcs+tc.query, "", "Accept", asTable).must(t, 200).into(t, &tbl)
			if tbl.Kind != "Table" || tbl.APIVersion != "meta.k8s.io/v1" || len(tbl.ColumnDefinitions) == 0 || tbl.ResourceVersion == "" {
				t.Fatalf("got %s %s with %d columns rv %q, want a meta.k8s.io/v1 Table", tbl.APIVersion, tbl.Kind, len(tbl.ColumnDefinitions), tbl.ResourceVersion)
			}
			if tbl.ColumnDefinitions[0].Name != "Name" {
				t.Errorf("first column %q, want Name", tbl.ColumnDefinitions[0].Name)
			}
			var names []string
			for _, row := range tbl.Rows {
				if len(row.Cells) != len(tbl.ColumnDefinitions) {
					t.Errorf("row of %d cells, %d columns", len(row.Cells), len(tbl.ColumnDefinitions))
				}
				names = append(names, fmt.Sprint(row.Cells[0]))
				if !tc.objects {
					if len(row.Object.Raw) != 0 {
						t.Errorf("row object %s with includeObject=None", row.Object.Raw)
					}
					continue
				}
				var m metav1.PartialObjectMetadata
				if err := json.Unmarshal(row.Object.Raw, &m); err != nil || m.Kind != "PartialObjectMetadata" || m.APIVersion != "meta.k8s.io/v1" ||
					m.Name != row.Cells[0] || m.Namespace != "tb" || m.UID == "" || m.ResourceVersion == "" {
					t.Errorf("row object %s: want PartialObjectMetadata of %v (err %v)", row.Object.Raw, row.Cells[0], err)
				}
			}
			if !slices.Equal(names, tc.rows) {
				t.Errorf("rows %q, want %q", names, tc.rows)
			}
		})
	}
	t.Run("single object", func(t *testing.T) {
		var tbl metav1.Table
		a.do("GET", svcs+"/t1", "", "Accept", asTable).must(t, 200).into(t, &tbl)
		if tbl.Kind != "Table" || len(tbl.Rows) != 1 || tbl.Rows[0].Cells[0] != "t1" {
			t.Errorf("GET as Table = %+v", tbl)
		}
	})
	t.Run("plain JSON without the Table Accept", func(t *testing.T) {
		var l corev1.ServiceList
		a.do("GET", svcs, "", "Accept", "application/json").must(t, 200).into(t, &l)
		if l.Kind != "ServiceList" || len(l.Items) != 2 {
			t.Errorf("got %s with %d items", l.Kind, len(l.Items))
		}
	})
}

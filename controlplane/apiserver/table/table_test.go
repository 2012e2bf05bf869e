package table

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// now is the reference time of every test; fixtures are dated relative to it.
var now = time.Date(2026, time.November, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

var (
	podGK        = schema.GroupKind{Kind: "Pod"}
	serviceGK    = schema.GroupKind{Kind: "Service"}
	deploymentGK = schema.GroupKind{Group: "apps", Kind: "Deployment"}
)

// rowCells converts one object and returns its cells.
func rowCells(t *testing.T, gk schema.GroupKind, obj runtime.Object) []any {
	t.Helper()
	tbl, err := Convert(gk, []runtime.Object{obj}, metav1.IncludeNone, now)
	if err != nil {
		t.Fatalf("Convert(%v): %v", gk, err)
	}
	if len(tbl.Rows) != 1 {
		t.Fatalf("Convert(%v): %d rows, want 1", gk, len(tbl.Rows))
	}
	if got, want := len(tbl.Rows[0].Cells), len(tbl.ColumnDefinitions); got != want {
		t.Fatalf("Convert(%v): %d cells for %d columns", gk, got, want)
	}
	return tbl.Rows[0].Cells
}

func assertCells(t *testing.T, got, want []any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells\n got %#v\nwant %#v", got, want)
	}
}

func TestColumns(t *testing.T) {
	tests := []struct {
		gk   schema.GroupKind
		cols []string // priority 0
		wide []string // priority 1, in order after cols' positions
	}{
		{podGK, []string{"Name", "Ready", "Status", "Restarts", "Age"}, []string{"IP", "Node", "Nominated Node", "Readiness Gates"}},
		{serviceGK, []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"}, []string{"Selector"}},
		{deploymentGK, []string{"Name", "Ready", "Up-to-date", "Available", "Age"}, []string{"Containers", "Images", "Selector"}},
		{schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, []string{"Name", "Desired", "Current", "Ready", "Age"}, []string{"Containers", "Images", "Selector"}},
		{schema.GroupKind{Group: "discovery.k8s.io", Kind: "EndpointSlice"}, []string{"Name", "AddressType", "Ports", "Endpoints", "Age"}, nil},
		{schema.GroupKind{Kind: "Endpoints"}, []string{"Name", "Endpoints", "Age"}, nil},
		{schema.GroupKind{Kind: "Node"}, []string{"Name", "Status", "Roles", "Age", "Version"}, []string{"Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"}},
		{schema.GroupKind{Kind: "Namespace"}, []string{"Name", "Status", "Age"}, nil},
		{schema.GroupKind{Kind: "Event"}, []string{"Last Seen", "Type", "Reason", "Object", "Message"}, []string{"Subobject", "Source", "First Seen", "Count", "Name"}},
		{schema.GroupKind{Group: "events.k8s.io", Kind: "Event"}, []string{"Last Seen", "Type", "Reason", "Object", "Message"}, []string{"Subobject", "Source", "First Seen", "Count", "Name"}},
		{schema.GroupKind{Group: "coordination.k8s.io", Kind: "Lease"}, []string{"Name", "Holder", "Age"}, nil},
		{schema.GroupKind{Kind: "PodTemplate"}, []string{"Name", "Age"}, nil},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "Role"}, []string{"Name", "Created At"}, nil},
		{schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}, []string{"Name", "Role", "Age"}, []string{"Users", "Groups", "ServiceAccounts"}},
		{schema.GroupKind{Group: "example.com", Kind: "Widget"}, []string{"Name", "Age"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.gk.String(), func(t *testing.T) {
			tbl, err := Convert(tt.gk, nil, "", now)
			if err != nil {
				t.Fatal(err)
			}
			if tbl.APIVersion != "meta.k8s.io/v1" || tbl.Kind != "Table" {
				t.Errorf("TypeMeta = %+v", tbl.TypeMeta)
			}
			if tbl.Rows == nil || len(tbl.Rows) != 0 {
				t.Errorf("Rows = %#v, want empty non-nil", tbl.Rows)
			}
			var cols, wide []string
			names := map[string]metav1.TableColumnDefinition{}
			for _, c := range tbl.ColumnDefinitions {
				switch c.Priority {
				case 0:
					cols = append(cols, c.Name)
				case 1:
					wide = append(wide, c.Name)
				default:
					t.Errorf("column %q has priority %d", c.Name, c.Priority)
				}
				if c.Type != "string" && c.Type != "integer" && c.Type != "date" {
					t.Errorf("column %q has type %q", c.Name, c.Type)
				}
				if c.Description == "" {
					t.Errorf("column %q has no description", c.Name)
				}
				names[c.Name] = c
			}
			if !reflect.DeepEqual(cols, tt.cols) {
				t.Errorf("columns = %q, want %q", cols, tt.cols)
			}
			if !reflect.DeepEqual(wide, tt.wide) {
				t.Errorf("wide columns = %q, want %q", wide, tt.wide)
			}
			if f := names["Name"].Format; f != "name" {
				t.Errorf("Name column format = %q, want name", f)
			}
		})
	}
}

func TestColumnsAreCopies(t *testing.T) {
	tbl, err := Convert(podGK, nil, "", now)
	if err != nil {
		t.Fatal(err)
	}
	tbl.ColumnDefinitions[0].Name = "Mutated"
	again, err := Convert(podGK, nil, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if again.ColumnDefinitions[0].Name != "Name" {
		t.Fatal("mutating a returned Table changed the package's columns")
	}
}

func TestIncludeObject(t *testing.T) {
	pod := runningPod()
	tests := []struct {
		include metav1.IncludeObjectPolicy
		check   func(t *testing.T, o runtime.Object)
	}{
		{metav1.IncludeNone, func(t *testing.T, o runtime.Object) {
			if o != nil {
				t.Errorf("object = %T, want none", o)
			}
		}},
		{"", checkPartial},
		{metav1.IncludeMetadata, checkPartial},
		{metav1.IncludeObject, func(t *testing.T, o runtime.Object) {
			p, ok := o.(*corev1.Pod)
			if !ok {
				t.Fatalf("object = %T, want *v1.Pod", o)
			}
			if p.APIVersion != "v1" || p.Kind != "Pod" {
				t.Errorf("embedded TypeMeta = %+v, want v1 Pod", p.TypeMeta)
			}
			if p.Spec.NodeName != "node-a" {
				t.Errorf("embedded pod lost its spec: %+v", p.Spec)
			}
			if pod.Kind != "" {
				t.Error("Convert set TypeMeta on the caller's object")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.include), func(t *testing.T) {
			tbl, err := Convert(podGK, []runtime.Object{pod}, tt.include, now)
			if err != nil {
				t.Fatal(err)
			}
			if tbl.Rows[0].Object.Raw != nil {
				t.Error("row carries Raw bytes, want an Object")
			}
			tt.check(t, tbl.Rows[0].Object.Object)
		})
	}
}

func checkPartial(t *testing.T, o runtime.Object) {
	t.Helper()
	p, ok := o.(*metav1.PartialObjectMetadata)
	if !ok {
		t.Fatalf("object = %T, want *PartialObjectMetadata", o)
	}
	if p.APIVersion != "meta.k8s.io/v1" || p.Kind != "PartialObjectMetadata" {
		t.Errorf("TypeMeta = %+v", p.TypeMeta)
	}
	want := runningPod().ObjectMeta
	if !reflect.DeepEqual(p.ObjectMeta, want) {
		t.Errorf("ObjectMeta\n got %+v\nwant %+v", p.ObjectMeta, want)
	}
}

func TestPartialMetadataIsACopy(t *testing.T) {
	pod := runningPod()
	tbl, err := Convert(podGK, []runtime.Object{pod}, metav1.IncludeMetadata, now)
	if err != nil {
		t.Fatal(err)
	}
	tbl.Rows[0].Object.Object.(*metav1.PartialObjectMetadata).Labels["app"] = "changed"
	if pod.Labels["app"] != "web" {
		t.Fatal("row metadata shares the caller's labels map")
	}
}

func TestConvertErrors(t *testing.T) {
	tests := []struct {
		name    string
		gk      schema.GroupKind
		objs    []runtime.Object
		include metav1.IncludeObjectPolicy
		want    error
	}{
		{"bad include", podGK, nil, "Everything", ErrIncludeObject},
		{"kind mismatch", podGK, []runtime.Object{clusterIPService()}, "", ErrUnexpectedType},
		{"nil object", podGK, []runtime.Object{nil}, "", ErrNoMetadata},
		{"fallback without metadata", schema.GroupKind{Kind: "Status"}, []runtime.Object{&metav1.Status{}}, "", ErrNoMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert(tt.gk, tt.objs, tt.include, now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFallback(t *testing.T) {
	tests := []struct {
		name string
		gk   schema.GroupKind
		obj  runtime.Object
		want []any
	}{
		{"pod template", schema.GroupKind{Kind: "PodTemplate"},
			&corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "settings", CreationTimestamp: ago(3 * time.Hour)}},
			[]any{"settings", "3h"}},
		{"no creation timestamp", schema.GroupKind{Kind: "LimitRange"},
			&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "token"}},
			[]any{"token", "<unknown>"}},
		{"unstructured custom resource", schema.GroupKind{Group: "example.com", Kind: "Widget"},
			&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "example.com/v1", "kind": "Widget",
				"metadata": map[string]any{"name": "w1", "creationTimestamp": now.Add(-90 * time.Second).Format(time.RFC3339)},
			}},
			[]any{"w1", "90s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCells(t, rowCells(t, tt.gk, tt.obj), tt.want)
		})
	}
}

func TestUnstructuredInput(t *testing.T) {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(runningPod())
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: content}
	assertCells(t, rowCells(t, podGK, u), rowCells(t, podGK, runningPod()))

	tbl, err := Convert(podGK, []runtime.Object{u}, metav1.IncludeMetadata, now)
	if err != nil {
		t.Fatal(err)
	}
	p := tbl.Rows[0].Object.Object.(*metav1.PartialObjectMetadata)
	if p.Namespace != "default" || p.Labels["app"] != "web" {
		t.Errorf("partial metadata from unstructured = %+v", p.ObjectMeta)
	}
}

// TestJSONRoundTrip encodes a Table of every covered kind as the API server
// sends it to kubectl, decodes it back and checks it survives unchanged.
func TestJSONRoundTrip(t *testing.T) {
	fixtures := []struct {
		gk  schema.GroupKind
		obj runtime.Object
	}{
		{podGK, runningPod()},
		{serviceGK, clusterIPService()},
		{deploymentGK, webDeployment()},
		{schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, webReplicaSet()},
		{schema.GroupKind{Group: "discovery.k8s.io", Kind: "EndpointSlice"}, webEndpointSlice()},
		{schema.GroupKind{Kind: "Endpoints"}, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}}},
		{schema.GroupKind{Kind: "Node"}, readyNode()},
		{schema.GroupKind{Kind: "Namespace"}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}},
		{schema.GroupKind{Kind: "Event"}, backOffEvent()},
		{schema.GroupKind{Group: "coordination.k8s.io", Kind: "Lease"}, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}},
		{schema.GroupKind{Kind: "ConfigMap"}, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}}},
	}
	for _, f := range fixtures {
		t.Run(f.gk.String(), func(t *testing.T) {
			tbl, err := Convert(f.gk, []runtime.Object{f.obj}, metav1.IncludeMetadata, now)
			if err != nil {
				t.Fatal(err)
			}
			tbl.ResourceVersion = "42"
			for _, c := range tbl.Rows[0].Cells {
				switch c.(type) {
				case string, int64:
				default:
					t.Errorf("cell %#v is a %T; cells must be string or int64", c, c)
				}
			}
			_ = tbl.DeepCopy() // panics on cell types JSON cannot copy

			first, err := json.Marshal(tbl)
			if err != nil {
				t.Fatal(err)
			}
			var back metav1.Table
			if err := json.Unmarshal(first, &back); err != nil {
				t.Fatal(err)
			}
			second, err := json.Marshal(&back)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, second) {
				t.Errorf("round trip changed the Table\nfirst  %s\nsecond %s", first, second)
			}
			if back.APIVersion != "meta.k8s.io/v1" || back.Kind != "Table" || back.ResourceVersion != "42" {
				t.Errorf("decoded header = %+v %+v", back.TypeMeta, back.ListMeta)
			}
			if !reflect.DeepEqual(back.ColumnDefinitions, tbl.ColumnDefinitions) {
				t.Errorf("decoded columns differ")
			}
			var partial metav1.PartialObjectMetadata
			if err := json.Unmarshal(back.Rows[0].Object.Raw, &partial); err != nil {
				t.Fatal(err)
			}
			if partial.Kind != "PartialObjectMetadata" || partial.APIVersion != "meta.k8s.io/v1" {
				t.Errorf("decoded row object TypeMeta = %+v", partial.TypeMeta)
			}
			m, _ := f.obj.(metav1.Object)
			if partial.Name != m.GetName() || partial.Namespace != m.GetNamespace() || !reflect.DeepEqual(partial.Labels, m.GetLabels()) {
				t.Errorf("decoded row metadata = %+v", partial.ObjectMeta)
			}
		})
	}
}

// TestJSONCells pins the wire form of cells that kubectl reads: RESTARTS is a
// string, counts are JSON numbers.
func TestJSONCells(t *testing.T) {
	tests := []struct {
		gk   schema.GroupKind
		obj  runtime.Object
		want string
	}{
		{podGK, runningPod(), `["web-7d4b9c8f6-x2x5q","1/1","Running","3 (5m ago)","2d","10.244.1.7","node-a","\u003cnone\u003e","\u003cnone\u003e"]`},
		{deploymentGK, webDeployment(), `["web","2/3",3,2,"5h","web","nginx:1.27","app=web"]`},
	}
	for _, tt := range tests {
		t.Run(tt.gk.String(), func(t *testing.T) {
			tbl, err := Convert(tt.gk, []runtime.Object{tt.obj}, metav1.IncludeNone, now)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(tbl.Rows[0].Cells)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("cells JSON\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

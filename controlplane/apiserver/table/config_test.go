package table

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestConfigRows(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "x", Namespace: "default", CreationTimestamp: ago(3 * time.Hour)}
	tests := []struct {
		kind string
		obj  runtime.Object
		want []any
	}{
		{"ConfigMap", &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": nil}},
			[]any{"x", int64(3), "3h"}},
		{"ConfigMap", &corev1.ConfigMap{ObjectMeta: meta}, []any{"x", int64(0), "3h"}},
		{"Secret", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}},
			[]any{"x", "kubernetes.io/tls", int64(2), "3h"}},
		{"ServiceAccount", &corev1.ServiceAccount{ObjectMeta: meta}, []any{"x", int64(0), "3h"}},
		{"ServiceAccount", &corev1.ServiceAccount{ObjectMeta: meta, Secrets: []corev1.ObjectReference{{Name: "t"}}}, []any{"x", int64(1), "3h"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			assertCells(t, rowCells(t, schema.GroupKind{Kind: tt.kind}, tt.obj), tt.want)
		})
	}
	for kind, cols := range map[string][]string{"ConfigMap": {"Name", "Data", "Age"}, "Secret": {"Name", "Type", "Data", "Age"}, "ServiceAccount": {"Name", "Secrets", "Age"}} {
		tbl, err := Convert(schema.GroupKind{Kind: kind}, nil, metav1.IncludeNone, now)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range tbl.ColumnDefinitions {
			got = append(got, c.Name)
		}
		if len(got) != len(cols) {
			t.Errorf("%s columns = %v, want %v", kind, got, cols)
			continue
		}
		for i := range cols {
			if got[i] != cols[i] {
				t.Errorf("%s columns = %v, want %v", kind, got, cols)
			}
		}
	}
}

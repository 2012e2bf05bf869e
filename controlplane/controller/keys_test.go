package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestKeyAndSplitKey(t *testing.T) {
	for _, tc := range []struct {
		namespace, name, key string
	}{
		{"default", "web", "default/web"},
		{"", "node-a", "/node-a"}, // an object without a namespace
		{"kube-system", "a.b-c", "kube-system/a.b-c"},
	} {
		obj := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: tc.namespace, Name: tc.name}}
		if got := Key(obj); got != tc.key {
			t.Errorf("Key(%s, %s) = %q, want %q", tc.namespace, tc.name, got, tc.key)
		}
		if ns, name := SplitKey(tc.key); ns != tc.namespace || name != tc.name {
			t.Errorf("SplitKey(%q) = %q, %q; want %q, %q", tc.key, ns, name, tc.namespace, tc.name)
		}
	}
	// A bare name (a node's key in the node lifecycle controller) has no
	// namespace.
	if ns, name := SplitKey("node-a"); ns != "" || name != "node-a" {
		t.Errorf(`SplitKey("node-a") = %q, %q; want "", "node-a"`, ns, name)
	}
}

package api

import (
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func TestKeys(t *testing.T) {
	for _, tt := range []struct {
		res             *Resource
		ns, name        string
		key, nsPrefix   string
		allPrefix       string
		splitNS, splitN string
	}{
		{Services.Resource, "default", "web", "/registry/services/specs/default/web", "/registry/services/specs/default/", "/registry/services/specs/", "default", "web"},
		{Nodes.Resource, "", "node-1", "/registry/minions/node-1", "/registry/minions/", "/registry/minions/", "", "node-1"},
		// A cluster-scoped resource ignores a namespace.
		{Namespaces.Resource, "x", "kube-system", "/registry/namespaces/kube-system", "/registry/namespaces/", "/registry/namespaces/", "", "kube-system"},
	} {
		if got := tt.res.Key(tt.ns, tt.name); got != tt.key {
			t.Errorf("%s Key(%q, %q) = %q; want %q", tt.res.Name, tt.ns, tt.name, got, tt.key)
		}
		if got := tt.res.ListPrefix(tt.ns); got != tt.nsPrefix {
			t.Errorf("%s ListPrefix(%q) = %q; want %q", tt.res.Name, tt.ns, got, tt.nsPrefix)
		}
		if got := tt.res.ListPrefix(""); got != tt.allPrefix {
			t.Errorf("%s ListPrefix(\"\") = %q; want %q", tt.res.Name, got, tt.allPrefix)
		}
		if ns, name := tt.res.SplitKey(tt.key); ns != tt.splitNS || name != tt.splitN {
			t.Errorf("%s SplitKey(%q) = %q, %q; want %q, %q", tt.res.Name, tt.key, ns, name, tt.splitNS, tt.splitN)
		}
	}
}

func TestFieldSet(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1"},
		Spec:       corev1.PodSpec{NodeName: "node-1", HostNetwork: true},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	got := Pods.FieldSet(pod)
	for k, want := range map[string]string{
		"metadata.name": "web-1", "metadata.namespace": "default",
		"spec.nodeName": "node-1", "status.phase": "Running", "spec.hostNetwork": "true",
	} {
		if got[k] != want {
			t.Errorf("Pods.FieldSet()[%q] = %q; want %q", k, got[k], want)
		}
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}
	if got, want := Nodes.FieldSet(node), (fields.Set{"metadata.name": "node-1", "spec.unschedulable": "false"}); !maps.Equal(got, want) {
		t.Errorf("Nodes.FieldSet() = %v; want %v", got, want)
	}
}

func TestAllDescribesEachKindOnce(t *testing.T) {
	kinds, prefixes := map[string]bool{}, map[string]bool{}
	for _, info := range All {
		if kinds[info.Kind] || prefixes[info.Prefix] {
			t.Errorf("%s (prefix %s) is described twice", info.Kind, info.Prefix)
		}
		kinds[info.Kind], prefixes[info.Prefix] = true, true
		if !strings.HasSuffix(info.Prefix, "/") {
			t.Errorf("%s: prefix %q does not end in /", info.Kind, info.Prefix)
		}
		if info.New() == info.New() {
			t.Errorf("%s: New() returned the same object twice", info.Kind)
		}
		if info.ListKind != info.Kind+"List" {
			t.Errorf("%s: ListKind %q; want %q", info.Kind, info.ListKind, info.Kind+"List")
		}
	}
}

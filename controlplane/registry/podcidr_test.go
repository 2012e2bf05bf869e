package registry_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

func node(name, podCIDR string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: podCIDR}}
}

// withPodCIDR gives r a cluster pod CIDR of cidr, /mask per node.
func withPodCIDR(t *testing.T, r *registry.Registry, cidr string, mask int) *registry.Registry {
	t.Helper()
	a, err := registry.NewCIDRAllocator(r.Store.Client(), cidr, mask)
	if err != nil {
		t.Fatal(err)
	}
	r.PodCIDRs = a
	return r
}

func createNode(t *testing.T, r *registry.Registry, n *corev1.Node) (*corev1.Node, error) {
	t.Helper()
	res, err := r.Create(t.Context(), registry.Nodes, n, registry.WriteOptions{})
	if err != nil {
		return nil, err
	}
	return res.Object.(*corev1.Node), nil
}

func podCIDRKeys(t *testing.T, c *clientv3.Client) map[string]string {
	t.Helper()
	resp, err := c.Get(t.Context(), "/registry/podcidrs/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), "/registry/podcidrs/")] = string(kv.Value)
	}
	return out
}

func TestNodePodCIDRs(t *testing.T) {
	e := storetest.StartEtcd(t)
	r := newRegistry(t, e, "")

	a, err := createNode(t, r, node("a", ""))
	if err != nil {
		t.Fatal(err)
	}
	if a.Spec.PodCIDR != "10.244.0.0/24" || len(a.Spec.PodCIDRs) != 1 || a.Spec.PodCIDRs[0] != a.Spec.PodCIDR {
		t.Fatalf("first node: podCIDR %q podCIDRs %q; want 10.244.0.0/24 in both", a.Spec.PodCIDR, a.Spec.PodCIDRs)
	}
	b, err := createNode(t, r, node("b", ""))
	if err != nil || b.Spec.PodCIDR != "10.244.1.0/24" {
		t.Fatalf("second node: %v, %v; want 10.244.1.0/24", b, err)
	}

	t.Run("explicit claims it", func(t *testing.T) {
		c, err := createNode(t, r, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.7.0/24"}}})
		if err != nil || c.Spec.PodCIDR != "10.244.7.0/24" {
			t.Fatalf("create with podCIDRs 10.244.7.0/24: %v, %v", c, err)
		}
		if got := podCIDRKeys(t, e.Client(t))["10.244.7.0/24"]; got != "c" {
			t.Fatalf("claim of 10.244.7.0/24 is held by %q, want c", got)
		}
	})
	t.Run("explicit taken", func(t *testing.T) {
		_, err := createNode(t, r, node("d", "10.244.1.0/24"))
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.podCIDR: Invalid value: \"10.244.1.0/24\": provided CIDR is already allocated") {
			t.Fatalf("create with a taken pod CIDR: %v; want 422 naming spec.podCIDR", err)
		}
	})
	t.Run("explicit out of range or misaligned", func(t *testing.T) {
		for _, cidr := range []string{"10.0.0.0/24", "10.244.3.0/25", "10.244.3.7/24", "fd00::/64"} {
			_, err := createNode(t, r, node("e", cidr))
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.podCIDR") {
				t.Errorf("create with pod CIDR %s: %v; want 422 naming spec.podCIDR", cidr, err)
			}
		}
	})
	t.Run("update keeps it and refuses a change", func(t *testing.T) {
		res, err := r.Update(t.Context(), registry.Nodes, "", "a", "", func(cur store.Object) (store.Object, error) {
			n := cur.(*corev1.Node)
			n.Spec.PodCIDR, n.Spec.PodCIDRs = "", nil // a manifest without it
			n.Labels = map[string]string{"x": "y"}
			n.ResourceVersion = ""
			return n, nil
		}, registry.WriteOptions{})
		if err != nil || res.Object.(*corev1.Node).Spec.PodCIDR != "10.244.0.0/24" {
			t.Fatalf("update without podCIDR: %v; want it kept", err)
		}
		_, err = r.Update(t.Context(), registry.Nodes, "", "a", "", func(cur store.Object) (store.Object, error) {
			n := cur.(*corev1.Node)
			n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.9.0/24", nil
			n.ResourceVersion = ""
			return n, nil
		}, registry.WriteOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "may not change podCIDR") {
			t.Fatalf("update changing podCIDR: %v; want 422", err)
		}
	})
	t.Run("released on delete", func(t *testing.T) {
		if _, err := r.Delete(t.Context(), registry.Nodes, "", "b", nil, registry.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, ok := podCIDRKeys(t, e.Client(t))["10.244.1.0/24"]; ok {
			t.Fatal("10.244.1.0/24 still claimed after its node was deleted")
		}
		f, err := createNode(t, r, node("f", ""))
		if err != nil || f.Spec.PodCIDR != "10.244.1.0/24" {
			t.Fatalf("next node: %v, %v; want the released 10.244.1.0/24", f, err)
		}
	})
}

// Concurrent creates through two API servers never share a range, and the
// range runs out with a clear error; deleting every node frees them all.
func TestNodePodCIDRsConcurrentAndExhausted(t *testing.T) {
	e := storetest.StartEtcd(t)
	// 10.250.0.0/21 in /24s: 8 ranges.
	regs := []*registry.Registry{
		withPodCIDR(t, newRegistry(t, e, ""), "10.250.0.0/21", 24),
		withPodCIDR(t, newRegistry(t, e, ""), "10.250.0.0/21", 24),
	}
	var mu sync.Mutex
	owners := map[string]string{}
	var full []error
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			n, err := createNode(t, regs[i%2], node(fmt.Sprint("n", i), ""))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				full = append(full, err)
				return
			}
			if prev, ok := owners[n.Spec.PodCIDR]; ok {
				t.Errorf("%s handed out twice: %s and %s", n.Spec.PodCIDR, prev, n.Name)
			}
			owners[n.Spec.PodCIDR] = n.Name
		})
	}
	wg.Wait()
	if len(owners) != 8 || len(full) != 4 {
		t.Fatalf("allocated %d ranges with %d errors (%v); want 8 and 4", len(owners), len(full), full)
	}
	for _, err := range full {
		if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "all 8 /24 ranges of the cluster pod CIDR 10.250.0.0/21 are in use") {
			t.Errorf("exhausted: %v; want an internal error saying the range is full", err)
		}
	}
	keys := podCIDRKeys(t, e.Client(t))
	for cidr, name := range owners {
		if keys[cidr] != name {
			t.Errorf("claim of %s held by %q; want %s", cidr, keys[cidr], name)
		}
	}
	for _, name := range owners {
		if _, err := regs[0].Delete(t.Context(), registry.Nodes, "", name, nil, registry.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if keys := podCIDRKeys(t, e.Client(t)); len(keys) != 0 {
		t.Fatalf("claims left after deleting every node: %v", keys)
	}
}

func TestNewCIDRAllocatorRejects(t *testing.T) {
	for _, tt := range []struct {
		cidr string
		mask int
	}{{"10.244.0.0", 24}, {"fd00::/48", 64}, {"10.244.0.0/16", 8}, {"10.244.0.0/16", 31}, {"10.0.0.0/8", 30}} {
		if _, err := registry.NewCIDRAllocator(nil, tt.cidr, tt.mask); err == nil {
			t.Errorf("NewCIDRAllocator(%s, /%d) accepted", tt.cidr, tt.mask)
		}
	}
}

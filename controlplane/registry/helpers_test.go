package registry_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/controlplane/registry"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func waitGone(t *testing.T, r *registry.Registry, info *registry.Info, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := r.Store.Get(t.Context(), info.Resource, ns, name)
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s/%s still there: %v", info.Kind, ns, name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

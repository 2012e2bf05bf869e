package registry_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/internal/testenv"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func waitGone(t *testing.T, r *registry.Registry, info *registry.Info, ns, name string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("%s %s/%s gone", info.Kind, ns, name), func() error {
		if _, err := r.Store.Get(t.Context(), info.Resource, ns, name); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
}

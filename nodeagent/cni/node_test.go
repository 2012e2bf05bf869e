package cni_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/cni"
)

// TestSetupNodeRejectsBadConfig: every problem is named before anything on
// the node changes.
func TestSetupNodeRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	good := cni.NodeConfig{
		PodCIDR:     netip.MustParsePrefix("10.248.7.0/24"),
		ClusterCIDR: clusterCIDR,
		ServiceCIDR: serviceCIDR,
		StateDir:    filepath.Join(dir, "state"),
		BinDir:      filepath.Join(dir, "bin"),
		ConfDir:     filepath.Join(dir, "conf"),
	}
	tests := []struct {
		name string
		edit func(*cni.NodeConfig)
		want string
	}{
		{"no pod CIDR", func(c *cni.NodeConfig) { c.PodCIDR = netip.Prefix{} }, "PodCIDR"},
		{"pod CIDR host bits", func(c *cni.NodeConfig) { c.PodCIDR = netip.MustParsePrefix("10.248.7.1/24") }, "host bits"},
		{"IPv6 pod CIDR", func(c *cni.NodeConfig) { c.PodCIDR = netip.MustParsePrefix("fd00::/64") }, "IPv4"},
		{"long bridge", func(c *cni.NodeConfig) { c.Bridge = "a-bridge-name-too-long" }, "Bridge"},
		{"IPv6 node IP", func(c *cni.NodeConfig) { c.NodeIP = netip.MustParseAddr("fd00::1") }, "NodeIP"},
		{"pod CIDR outside the cluster", func(c *cni.NodeConfig) { c.ClusterCIDR = netip.MustParsePrefix("10.200.0.0/16") }, "does not contain"},
		{"service CIDR in the cluster", func(c *cni.NodeConfig) { c.ServiceCIDR = netip.MustParsePrefix("10.248.128.0/20") }, "overlaps"},
		{"relative state dir", func(c *cni.NodeConfig) { c.StateDir = "state" }, "StateDir"},
		{"no bin dir", func(c *cni.NodeConfig) { c.BinDir = "" }, "BinDir"},
		{"relative conf dir", func(c *cni.NodeConfig) { c.ConfDir = "conf" }, "ConfDir"},
		{"relative netns", func(c *cni.NodeConfig) { c.NetNS = "run/netns/x" }, "NetNS"},
		{"tiny MTU", func(c *cni.NodeConfig) { c.MTU = 10 }, "MTU"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := cni.SetupNode(t.Context(), cfg)
			if !errors.Is(err, cni.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SetupNode: %v, want ErrInvalidConfig naming %q", err, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("rejected configs left files: %v", entries)
	}
}

// TestConfListAndPlugins: what SetupNode writes for containerd.
func TestConfListAndPlugins(t *testing.T) {
	cfg := nodeConfig(t)
	cfg.MTU = 1400
	n := newNode(t, cfg)
	l := n.confList(t)
	if l.Name != cni.NetworkName || l.CNIVersion != "1.0.0" || len(l.Plugins) != 1 {
		t.Fatalf("conflist %s: want network shoal, version 1.0.0, one plugin", l.Bytes)
	}
	p := l.Plugins[0]
	if p.Network.Type != "shoal" || !p.Network.Capabilities["portMappings"] {
		t.Errorf("plugin %s: want type shoal with the portMappings capability", p.Bytes)
	}
	var got map[string]any
	if err := json.Unmarshal(p.Bytes, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"bridge": cfg.Bridge, "podCIDR": cfg.PodCIDR.String(), "gateway": n.nn.Gateway().String(),
		"stateDir": cfg.StateDir, "nodeNetns": cfg.NetNS, "mtu": float64(1400),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	for name, target := range map[string]string{"shoal": exe, "loopback": filepath.Join(cni.StockPluginDir, "loopback")} {
		if dst, err := os.Readlink(filepath.Join(cfg.BinDir, name)); err != nil || dst != target {
			t.Errorf("%s in the bin dir links to %q (%v), want %s", name, dst, err, target)
		}
	}
	h := nlHandle(t, n.ns)
	defer h.Close()
	if br, err := h.LinkByName(cfg.Bridge); err != nil || br.Attrs().MTU != 1400 {
		t.Errorf("bridge: %v; want MTU 1400", err)
	}
}

// TestSetupNodeNeedsLoopback: without the stock plugins the error names the
// missing file and the package to install.
func TestSetupNodeNeedsLoopback(t *testing.T) {
	testenv.Require(t, testenv.Root)
	cfg := nodeConfig(t)
	defer cni.SetStockPluginDir(t.TempDir())()
	nn, err := cni.SetupNode(t.Context(), cfg)
	if err == nil {
		nn.Close(t.Context(), true)
		t.Fatal("SetupNode without loopback succeeded")
	}
	if !strings.Contains(err.Error(), "loopback") || !strings.Contains(err.Error(), "containernetworking-plugins") {
		t.Errorf("error %q: want it to name loopback and containernetworking-plugins", err)
	}
	h := nlHandle(t, cfg.NetNS)
	defer h.Close()
	if _, err := h.LinkByName(cfg.Bridge); err == nil {
		t.Error("the refused SetupNode created the bridge")
	}
	if tables := nftTables(t, cfg.NetNS); len(tables) > 0 {
		t.Errorf("the refused SetupNode created nftables tables %v", tables)
	}
}

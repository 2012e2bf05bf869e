package cni_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/cni"
	"github.com/shoalmesh/shoal/nodeagent/network"
	"github.com/shoalmesh/shoal/nodeagent/network/networktest"
)

// TestMain lets the test binary be the plugin: SetupNode links it into the
// bin directory as shoal, and containerd or libcni runs it from there.
func TestMain(m *testing.M) {
	cni.Main()
	os.Exit(m.Run())
}

// Pod CIDRs come from the cluster CIDR 10.248.0.0/16, a /24 each, from a
// random third octet on; every test node lives in a namespace of its own,
// so tests in parallel processes cannot collide.
var (
	clusterCIDR = netip.MustParsePrefix("10.248.0.0/16")
	serviceCIDR = netip.MustParsePrefix("10.97.0.0/16")
	cidrBase    = func() uint32 { b := make([]byte, 1); rand.Read(b); return uint32(b[0]) }()
	cidrSeq     atomic.Uint32
)

func podCIDR() netip.Prefix {
	third := byte(cidrBase + cidrSeq.Add(1))
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 248, third, 0}), 24)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// node is a test node: a pinned namespace with the node network set up.
type node struct {
	cfg  cni.NodeConfig
	nn   *cni.NodeNetwork
	ns   string // the node's namespace
	exec *libcni.CNIConfig
}

// nodeConfig is a config for a node in a new namespace, in a new
// directory.
func nodeConfig(t testing.TB) cni.NodeConfig {
	t.Helper()
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	return cni.NodeConfig{
		NetNS:       networktest.Pinned(t),
		Bridge:      networktest.Name("shcn"),
		PodCIDR:     podCIDR(),
		ClusterCIDR: clusterCIDR,
		ServiceCIDR: serviceCIDR,
		StateDir:    filepath.Join(dir, "state"),
		BinDir:      filepath.Join(dir, "bin"),
		ConfDir:     filepath.Join(dir, "conf"),
		Logger:      testLogger(t),
	}
}

// newNode sets up cfg's node; the test's end removes it and checks that
// nothing of it is left.
func newNode(t testing.TB, cfg cni.NodeConfig) *node {
	t.Helper()
	nn, err := cni.SetupNode(t.Context(), cfg)
	if err != nil {
		t.Fatalf("SetupNode: %v", err)
	}
	n := &node{cfg: cfg, nn: nn, ns: cfg.NetNS, exec: newCNIConfig(t, cfg.BinDir)}
	t.Cleanup(func() {
		if err := n.nn.Close(context.Background(), true); err != nil {
			t.Errorf("Close: %v", err)
		}
		n.assertRemoved(t)
	})
	return n
}

// newCNIConfig is how containerd calls plugins, safe for concurrent use:
// libcni makes its default executor lazily, racing with itself.
func newCNIConfig(t testing.TB, binDir string) *libcni.CNIConfig {
	exec := &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: t.Output()}, PluginDecoder: version.PluginDecoder{}}
	return libcni.NewCNIConfigWithCacheDir([]string{binDir}, t.TempDir(), exec)
}

// assertRemoved checks that Close(ctx, true) left nothing in the node's
// namespace or directories.
func (n *node) assertRemoved(t testing.TB) {
	t.Helper()
	h := nlHandle(t, n.ns)
	defer h.Close()
	if _, err := h.LinkByName(n.cfg.Bridge); err == nil {
		t.Errorf("bridge %s left behind", n.cfg.Bridge)
	}
	if links := n.veths(t); len(links) > 0 {
		t.Errorf("veths left behind: %v", links)
	}
	if tables := nftTables(t, n.ns); len(tables) > 0 {
		t.Errorf("nftables tables left behind: %v", tables)
	}
	for _, p := range []string{filepath.Join(n.cfg.ConfDir, cni.ConfListName), filepath.Join(n.cfg.BinDir, "shoal"), filepath.Join(n.cfg.BinDir, "loopback")} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
}

func nlHandle(t testing.TB, path string) *netlink.Handle {
	t.Helper()
	ns, err := netns.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// veths lists the veths in the node's namespace, but the test's wires.
func (n *node) veths(t testing.TB) []string {
	t.Helper()
	h := nlHandle(t, n.ns)
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if l.Type() == "veth" && !strings.HasPrefix(l.Attrs().Name, "wire") {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

// vethsOnBridge lists the interfaces attached to the node's bridge.
func (n *node) vethsOnBridge(t testing.TB) []string {
	t.Helper()
	h := nlHandle(t, n.ns)
	defer h.Close()
	br, err := h.LinkByName(n.cfg.Bridge)
	if err != nil {
		t.Fatalf("bridge: %v", err)
	}
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out
}

func nftTables(t testing.TB, path string) []string {
	t.Helper()
	var tables []*nftables.Table
	err := netns.DoPath(path, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err = c.ListTables()
		return err
	})
	if err != nil {
		t.Fatalf("list nftables tables: %v", err)
	}
	var out []string
	for _, tb := range tables {
		out = append(out, tb.Name)
	}
	return out
}

// allocations reads the node's IPAM file: address → owner.
func (n *node) allocations(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.cfg.StateDir, "ipam.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Allocations map[string]string `json:"allocations"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.Allocations
}

func (n *node) confList(t testing.TB) *libcni.NetworkConfigList {
	t.Helper()
	l, err := libcni.ConfListFromFile(filepath.Join(n.cfg.ConfDir, cni.ConfListName))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pod is a sandbox namespace attached through the plugin.
type pod struct {
	id, ns string
	ip     netip.Addr
	result *current.Result
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func runtimeConf(p *pod, ports []map[string]any) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: p.id, NetNS: p.ns, IfName: "eth0"}
	if ports != nil {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rt
}

// add makes a pod namespace and ADDs it through libcni, as containerd does.
func (n *node) add(t testing.TB, ports ...map[string]any) *pod {
	t.Helper()
	p := &pod{id: newID(), ns: networktest.Pinned(t)}
	res, err := n.exec.AddNetworkList(t.Context(), n.confList(t), runtimeConf(p, ports))
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	n.setResult(t, p, res)
	return p
}

func (n *node) setResult(t testing.TB, p *pod, res types.Result) {
	t.Helper()
	r, err := current.NewResultFromResult(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.IPs) != 1 {
		t.Fatalf("ADD result has %d IPs, want 1: %v", len(r.IPs), r)
	}
	ip, _ := netip.AddrFromSlice(r.IPs[0].Address.IP)
	p.ip, p.result = ip.Unmap(), r
}

func (n *node) del(t testing.TB, p *pod, ports ...map[string]any) {
	t.Helper()
	if err := n.exec.DelNetworkList(t.Context(), n.confList(t), runtimeConf(p, ports)); err != nil {
		t.Fatalf("DEL: %v", err)
	}
}

func (n *node) check(p *pod) error {
	return n.exec.CheckNetworkList(context.Background(), n.confListNoT(), runtimeConf(p, nil))
}

func (n *node) confListNoT() *libcni.NetworkConfigList {
	l, _ := libcni.ConfListFromFile(filepath.Join(n.cfg.ConfDir, cni.ConfListName))
	return l
}

// cniResult is a plugin's output: a result or an error.
type cniResult struct {
	CNIVersion string          `json:"cniVersion"`
	Code       uint            `json:"code"`
	Msg        string          `json:"msg"`
	IPs        []any           `json:"ips"`
	Interfaces []any           `json:"interfaces"`
	Supported  []string        `json:"supportedVersions"`
	Raw        json.RawMessage `json:"-"`
}

// invoke runs the plugin from the bin directory directly, with env and
// stdin as a runtime sets them, and parses what it prints.
func (n *node) invoke(t testing.TB, env map[string]string, stdin string) (cniResult, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(n.cfg.BinDir, "shoal"))
	cmd.Env = []string{"CNI_PATH=" + n.cfg.BinDir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	runErr := cmd.Run()
	var r cniResult
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("plugin printed %q: %v", out.String(), err)
		}
		r.Raw = out.Bytes()
	}
	return r, runErr
}

// pluginConf is the plugin's entry of the node's conflist with the fields
// a runtime adds, edited by edit.
func (n *node) pluginConf(t testing.TB, edit func(map[string]any)) string {
	t.Helper()
	l := n.confList(t)
	var m map[string]any
	if err := json.Unmarshal(l.Plugins[0].Bytes, &m); err != nil {
		t.Fatal(err)
	}
	m["cniVersion"], m["name"] = l.CNIVersion, l.Name
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// echo serves an echo server on addr in the namespace at path and returns
// its address.
func echo(t testing.TB, path, addr string) string {
	t.Helper()
	ln := networktest.ListenIn(t, path, addr)
	networktest.Echo(ln)
	return ln.Addr().String()
}

// peers serves on addr in the namespace at path and records the source
// address of every connection; it returns the address and the records.
func peers(t testing.TB, path, addr string) (string, <-chan netip.Addr) {
	t.Helper()
	ln := networktest.ListenIn(t, path, addr)
	seen := make(chan netip.Addr, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			select {
			case seen <- ap.Addr().Unmap():
			default:
			}
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	return ln.Addr().String(), seen
}

// roundTrip dials addr from the namespace at from until an echo answers,
// or fails the test after a few seconds.
func roundTrip(t testing.TB, from, addr string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("echo from %s to %s", from, addr), func() error {
		return tryRoundTrip(t.Context(), from, addr)
	})
}

func tryRoundTrip(ctx context.Context, from, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := networktest.DialIn(ctx, from, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping" {
		return fmt.Errorf("echo answered %q", buf)
	}
	return nil
}

// sourceSeen dials addr (a peers server) from the namespace at from and
// returns the source address the server saw.
func sourceSeen(t testing.TB, from, addr string, seen <-chan netip.Addr) netip.Addr {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("connect from %s to %s", from, addr), func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		c, err := networktest.DialIn(ctx, from, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = io.ReadAll(c)
		return err
	})
	select {
	case a := <-seen:
		return a
	case <-time.After(5 * time.Second):
		t.Fatalf("server at %s saw no connection", addr)
		return netip.Addr{}
	}
}

func hostPortOwners(t testing.TB, n *node) []string {
	t.Helper()
	ns, err := netns.Open(n.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	owners, err := network.HostPortOwners(ns, n.nn.Table())
	if err != nil {
		t.Fatal(err)
	}
	return owners
}

// postroutingRules counts the rules of the node table's postrouting chain.
func postroutingRules(t testing.TB, n *node) int {
	t.Helper()
	var rules []*nftables.Rule
	err := netns.DoPath(n.ns, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tb := &nftables.Table{Name: n.nn.Table(), Family: nftables.TableFamilyIPv4}
		rules, err = c.GetRules(tb, &nftables.Chain{Name: "postrouting", Table: tb})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(rules)
}

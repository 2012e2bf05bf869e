// Package nodeagenttest runs a Shoal cluster of several nodes on one
// machine, for tests: one in-process control plane (cluster/clustertest)
// and N node agents, each a child process of the test binary whose node is
// a network namespace wired to the host like a machine on a LAN.
//
//	host namespace                         node namespace i (Node.NetNS)
//	  bridge smb<id>  10.251.X.1/24  ──veth──  eth0 10.251.X.(11+i)/24 = Node.IP
//	  route PodCIDR_i via Node.IP              default via 10.251.X.1, ip_forward=1
//	  the test, the API server, the agents     the agent's pod bridge, pods, peer
//	  (their API clients)                      routes, log server, hostNetwork pods
//
// Each agent runs with nodeagent.Config.NetNS set to its node's namespace
// and its own DataDir, Bridge, NetnsDir, CgroupRoot and pod CIDR, so agents
// never touch each other's objects; NoPeerRoutes is false, and each agent
// routes to the other nodes' pod CIDRs via their node IPs from the Node
// objects, as on real machines. The harness adds the host's routes to every
// pod CIDR, so the test reaches every pod, and the API server reaches every
// node's log server (kubectl logs) through the bridge.
//
// Each agent runs its own containerd in its node's namespace (so the CNI
// plugins, the shims and the hostNetwork pods live there), with its config,
// root, state and socket under the node's data dir and
// containerd.DefaultStateDir of it. Options.Images are written to each
// node's images folder and imported at start, as on an air-gapped node, so
// the pods' images need no registry the nodes reach.
//
// The agents are processes, not goroutines, so that a test can SIGKILL one
// (Node.Kill) as a machine dies: no clean-up, no last status write, pods
// left running (its containerd dies with it; the shims and containers do
// not). The test binary is the agent: the TestMain of a package that uses
// Start must call Main:
//
//	func TestMain(m *testing.M) {
//		nodeagenttest.Main() // the agents are this binary
//		os.Exit(m.Run())
//	}
//
// # Clean-up
//
// Everything Start makes goes when the test ends, also when it fails half
// way: agents are stopped (SIGTERM, so that they stop their pods; SIGKILL
// after 60 s), what a killed agent left running is killed through its
// cgroups and its shims, pinned namespaces are unmounted, the veths, the
// bridge and the routes are deleted; then anything left is reported as an
// error. Objects
// are named after the test process's PID, and Start first removes those of
// earlier test processes that died without cleaning up (a test binary that
// timed out), so nothing accumulates. An agent whose test process dies
// gets SIGKILL (Pdeathsig).
package nodeagenttest

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
)

// Options change what Start makes.
type Options struct {
	// Nodes is how many nodes (agents); default 2, at most 64.
	Nodes int
	// Shoal is the control plane the agents join; nil starts one with
	// clustertest.Start. One Shoal per Start: node names are node-1...N.
	Shoal *clustertest.Shoal
	// Images are written (by name) to every node's images folder, which
	// its agent imports at start: pods name them with imagePullPolicy
	// IfNotPresent (a tag other than latest).
	Images map[string]v1.Image
}

// Cluster is a control plane and its nodes, each an agent process in its
// own network namespace.
type Cluster struct {
	Shoal *clustertest.Shoal
	// Client is an admin clientset.
	Client *kubernetes.Clientset
	// Bridge is the host namespace's bridge the nodes are wired to, on
	// Subnet, where the host has HostIP.
	Bridge string
	Subnet netip.Prefix
	HostIP netip.Addr
	Nodes  []*Node

	t          testing.TB
	id         string // <pid>-<random>: names this cluster's objects
	short      string // <random>, for interface names (15 bytes at most)
	runDir     string // runDir/<id>: pinned namespaces
	cgroupRoot string
	caFile     string
	hostLinks  []string        // veths and the bridge, in the host namespace
	routes     []netlink.Route // the host's routes to pod CIDRs
}

// Start creates the network and runs the agents, and returns once every
// node is Ready and routes to every other node's pods. It skips the test
// where agents cannot run (not root, no cgroups), through testenv. Everything goes when the
// test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	testenv.Require(t, testenv.Containerd)
	testenv.RequireOK(t, testenv.Root, nodeagent.Preflight(""))
	if opts.Nodes == 0 {
		opts.Nodes = 2
	}
	if opts.Nodes < 1 || opts.Nodes > 64 {
		t.Fatalf("nodeagenttest: %d nodes: want 1 to 64", opts.Nodes)
	}
	sweep()
	if opts.Shoal == nil {
		opts.Shoal = clustertest.Start(t, clustertest.Options{})
	}
	dataDir := t.TempDir()
	c := &Cluster{
		t:      t,
		Shoal:  opts.Shoal,
		Client: opts.Shoal.Clientset(t),
		short:  randHex(3),
	}
	c.id = strconv.Itoa(os.Getpid()) + "-" + c.short
	c.runDir = filepath.Join(runDir, c.id)
	c.cgroupRoot = cgroupPrefix + c.id
	// Registered after the Shoal's, so it runs first: agents stop while
	// the API server still answers them.
	t.Cleanup(c.cleanup)

	if err := c.setupHost(); err != nil {
		t.Fatalf("nodeagenttest: %v", err)
	}
	cidrs, err := freePodCIDRs(opts.Nodes)
	if err != nil {
		t.Fatalf("nodeagenttest: %v", err)
	}
	if err := c.writeCA(filepath.Join(dataDir, "ca.crt")); err != nil {
		t.Fatalf("nodeagenttest: %v", err)
	}
	for i := range opts.Nodes {
		n := &Node{
			Name:       "node-" + strconv.Itoa(i+1),
			PodCIDR:    cidrs[i],
			Bridge:     "smp" + c.short + strconv.Itoa(i+1),
			DataDir:    filepath.Join(dataDir, "node-"+strconv.Itoa(i+1)),
			c:          c,
			index:      i,
			cleanAfter: true,
		}
		n.IP = nthAddr(c.Subnet, 11+i)
		n.NetNS = filepath.Join(c.runDir, n.Name, "netns")
		n.NetnsDir = filepath.Join(c.runDir, n.Name, "pods")
		n.CgroupRoot = c.cgroupRoot + "/" + n.Name
		n.LogFile = filepath.Join(n.DataDir, "agent.log")
		c.Nodes = append(c.Nodes, n)
		if err := c.setupNode(n); err != nil {
			t.Fatalf("nodeagenttest: node %s: %v", n.Name, err)
		}
		if err := writeImages(filepath.Join(n.DataDir, "images"), opts.Images); err != nil {
			t.Fatalf("nodeagenttest: node %s: %v", n.Name, err)
		}
	}

	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Go(func() { errs[i] = n.start() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("nodeagenttest: %v", err)
	}
	for _, n := range c.Nodes {
		rt := netlink.Route{Dst: ipNet(n.PodCIDR), Gw: n.IP.AsSlice(), Protocol: routeProtocol}
		if err := netlink.RouteAdd(&rt); err != nil { // not Replace: never take over a route someone else has
			t.Fatalf("nodeagenttest: host route to %s via %s: %v", n.PodCIDR, n.IP, err)
		}
		c.routes = append(c.routes, rt)
	}
	c.waitConverged(60 * time.Second)
	t.Logf("nodeagenttest: %d nodes on bridge %s (%s): %s", len(c.Nodes), c.Bridge, c.Subnet, c.describe())
	return c
}

func (c *Cluster) describe() string {
	var parts []string
	for _, n := range c.Nodes {
		parts = append(parts, fmt.Sprintf("%s %s pods %s", n.Name, n.IP, n.PodCIDR))
	}
	return strings.Join(parts, "; ")
}

// Node returns the node called name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// setupHost makes the host side: a bridge on a free 10.251.X.0/24.
func (c *Cluster) setupHost() error {
	subnet, err := freeSubnet()
	if err != nil {
		return err
	}
	c.Subnet, c.HostIP = subnet, nthAddr(subnet, 1)
	c.Bridge = "smb" + c.short
	attrs := netlink.NewLinkAttrs()
	attrs.Name = c.Bridge
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		return fmt.Errorf("create bridge %s: %w", c.Bridge, err)
	}
	c.hostLinks = append(c.hostLinks, c.Bridge)
	br, err := netlink.LinkByName(c.Bridge)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetAlias(br, aliasPrefix+c.id); err != nil {
		return fmt.Errorf("alias %s: %w", c.Bridge, err)
	}
	if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(c.HostIP, 24))}); err != nil {
		return fmt.Errorf("address %s on %s: %w", c.HostIP, c.Bridge, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring up %s: %w", c.Bridge, err)
	}
	return nil
}

// setupNode makes a node's namespace and wires it to the bridge.
func (c *Cluster) setupNode(n *Node) error {
	if err := os.MkdirAll(filepath.Dir(n.NetNS), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		return err
	}
	if err := netns.Create(n.NetNS); err != nil {
		return err
	}
	ns, err := netns.Open(n.NetNS)
	if err != nil {
		return err
	}
	defer ns.Close()
	veth := "smv" + c.short + strconv.Itoa(n.index+1)
	attrs := netlink.NewLinkAttrs()
	attrs.Name = veth
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(ns)}); err != nil {
		return fmt.Errorf("create veth %s: %w", veth, err)
	}
	c.hostLinks = append(c.hostLinks, veth)
	host, err := netlink.LinkByName(veth)
	if err != nil {
		return err
	}
	br, err := netlink.LinkByName(c.Bridge)
	if err != nil {
		return err
	}
	if err := errors.Join(netlink.LinkSetAlias(host, aliasPrefix+c.id), netlink.LinkSetMaster(host, br), netlink.LinkSetUp(host)); err != nil {
		return fmt.Errorf("veth %s: %w", veth, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	if err := errors.Join(
		h.LinkSetUp(lo),
		h.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(n.IP, 24))}),
		h.LinkSetUp(eth0),
	); err != nil {
		return fmt.Errorf("eth0 in the node: %w", err)
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: c.HostIP.AsSlice()}); err != nil {
		return fmt.Errorf("default route in the node: %w", err)
	}
	return netns.DoPath(n.NetNS, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	})
}

func (c *Cluster) writeCA(path string) error {
	rc := c.Shoal.RESTConfig(c.t)
	ca := rc.CAData
	if len(ca) == 0 && rc.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(rc.CAFile); err != nil {
			return fmt.Errorf("read the CA: %w", err)
		}
	}
	c.caFile = path
	return os.WriteFile(path, ca, 0o644)
}

// CAPool holds the cluster CA, which signs the API server's and the node
// servers' certificates.
func (c *Cluster) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(c.caFile); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	return pool
}

// waitConverged waits until every node is Ready, has a load report, and
// its namespace routes to every other node's pod CIDR.
func (c *Cluster) waitConverged(timeout time.Duration) {
	c.t.Helper()
	testenv.Eventually(c.t, timeout, "nodeagenttest: nodes Ready and routed to each other", func() error {
		for _, n := range c.Nodes {
			node, err := c.Client.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !NodeReady(node) {
				return fmt.Errorf("node %s not Ready", n.Name)
			}
			if node.Spec.PodCIDR != n.PodCIDR.String() {
				return fmt.Errorf("node %s has pod CIDR %q, want %s", n.Name, node.Spec.PodCIDR, n.PodCIDR)
			}
			// The first load report right after an agent starts measures
			// the node's CPU over a few milliseconds (0 or all cores), which
			// would steer the scheduler: wait for one over a full interval.
			lease, err := c.Client.CoordinationV1().Leases(api.NodeLeaseNamespace).Get(context.Background(), n.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if r, ok, err := api.LoadReportOf(lease); err != nil || !ok || !r.Time.After(n.readyAt.Add(api.LoadInterval/2)) {
				return fmt.Errorf("node %s: no load report measured since its agent started yet (%v)", n.Name, err)
			}
			routes, err := n.PeerRoutes()
			if err != nil {
				return err
			}
			for _, m := range c.Nodes {
				if m != n && routes[m.PodCIDR] != m.IP {
					return fmt.Errorf("node %s: no route to %s via %s yet (has %v)", n.Name, m.PodCIDR, m.IP, sortedPrefixes(routes))
				}
			}
		}
		return nil
	})
}

// NodeReady reports whether the Node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// cleanup stops the agents and removes every object of the cluster, then
// reports what could not be removed.
func (c *Cluster) cleanup() {
	t := c.t
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Go(func() {
			if err := n.stop(60 * time.Second); err != nil {
				t.Errorf("nodeagenttest: %v", err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		for _, n := range c.Nodes {
			t.Logf("nodeagenttest: last lines of %s's agent log (%s):\n%s", n.Name, n.LogFile, tail(n.LogFile, 60))
		}
	}
	// What a stopped agent must have removed itself.
	for _, n := range c.Nodes {
		if n.cleanAfter {
			if left := n.leftovers(); len(left) > 0 {
				t.Errorf("nodeagenttest: the stopped agent of %s left %v", n.Name, left)
			}
		}
	}
	for _, rt := range c.routes {
		netlink.RouteDel(&rt)
	}
	RemoveCgroups(c.cgroupRoot) // kills the pods killed agents left running
	for _, n := range c.Nodes {
		n.killShims()
	}
	removeNetnsDir(c.runDir)
	for i := len(c.hostLinks) - 1; i >= 0; i-- {
		if l, err := netlink.LinkByName(c.hostLinks[i]); err == nil {
			netlink.LinkDel(l)
		}
	}
	if left := c.leftovers(); len(left) > 0 {
		t.Errorf("nodeagenttest: left behind: %v", left)
	}
}

// leftovers lists what of the cluster is still in the kernel.
func (c *Cluster) leftovers() []string {
	var out []string
	links, _ := netlink.LinkList()
	for _, l := range links {
		if l.Attrs().Alias == aliasPrefix+c.id {
			out = append(out, "link "+l.Attrs().Name)
		}
	}
	routes, _ := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProtocol}, netlink.RT_FILTER_PROTOCOL)
	for _, r := range routes {
		for _, mine := range c.routes {
			if r.Dst != nil && r.Dst.String() == mine.Dst.String() && r.Gw.Equal(mine.Gw) {
				out = append(out, "route "+r.Dst.String())
			}
		}
	}
	for _, m := range mountsUnder(c.runDir) {
		out = append(out, "mount "+m)
	}
	if _, err := os.Stat(c.runDir); err == nil {
		out = append(out, "dir "+c.runDir)
	}
	for _, cg := range CgroupsUnder(c.cgroupRoot) {
		out = append(out, "cgroup "+cg)
	}
	for _, pid := range ProcessesIn(c.cgroupRoot) {
		out = append(out, "process "+strconv.Itoa(pid))
	}
	for _, n := range c.Nodes {
		for _, pid := range ProcessesMentioning(n.stateDir()) {
			out = append(out, "containerd or shim process "+strconv.Itoa(pid)+" of "+n.Name)
		}
		if _, err := os.Stat(n.stateDir()); err == nil {
			out = append(out, "containerd state "+n.stateDir())
		}
	}
	for _, n := range c.Nodes {
		if n.proc != nil && !n.proc.exited() {
			out = append(out, "agent process "+strconv.Itoa(n.proc.cmd.Process.Pid))
		}
	}
	return out
}

// nthAddr is the n-th address of p.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// sortedPrefixes is for messages.
func sortedPrefixes(m map[netip.Prefix]netip.Addr) []string {
	var out []string
	for p, a := range m {
		out = append(out, p.String()+" via "+a.String())
	}
	slices.Sort(out)
	return out
}

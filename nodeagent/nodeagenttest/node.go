package nodeagenttest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/nodeagent/cni"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/network"
)

// Node is one node of a Cluster: a network namespace and the agent process
// that runs its pods.
type Node struct {
	Name string
	// IP is the node's InternalIP, on eth0 of its namespace.
	IP netip.Addr
	// NetNS is the node's network namespace (a pinned file), the agent's
	// Config.NetNS: `nsenter --net=<NetNS>` enters it.
	NetNS   string
	PodCIDR netip.Prefix
	// The agent's Config.Bridge, DataDir, NetnsDir and CgroupRoot.
	Bridge     string
	DataDir    string
	NetnsDir   string
	CgroupRoot string
	// LogFile collects the agent's log, across restarts.
	LogFile string

	c     *Cluster
	index int
	// cleanAfter: the agent last stopped (or will stop) cleanly, so it must
	// have removed its pods' objects itself.
	cleanAfter bool

	mu      sync.Mutex
	proc    *agentProc
	readyAt time.Time // when the agent last said it was ready
}

// agentProc is one run of an agent process.
type agentProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit status, once done
}

func (p *agentProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Running reports whether the node's agent process runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

// Pid is the agent process's PID, 0 if none runs.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || n.proc.exited() {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// Kill sends the agent SIGKILL, as a machine that dies, and waits until it
// has exited; it returns when it sent the signal. Its pods keep running
// (until the cluster's clean-up) and its Node and Lease stay as they were.
func (n *Node) Kill(t testing.TB) time.Time {
	t.Helper()
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		t.Fatalf("nodeagenttest: the agent of %s is not running", n.Name)
	}
	n.cleanAfter = false
	at := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("nodeagenttest: kill the agent of %s: %v", n.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("nodeagenttest: the agent of %s did not die of SIGKILL in 10 s", n.Name)
	}
	return at
}

// Stop stops the agent with SIGTERM, as `shoal agent` is stopped: it stops
// its pods and removes their network (and its bridge and routes) first.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	if err := n.stop(60 * time.Second); err != nil {
		t.Fatalf("nodeagenttest: %v", err)
	}
}

// Restart starts the agent again (after Kill or Stop) on the same data dir,
// namespace and pod CIDR; it adopts what a killed one left running.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	if n.Running() {
		t.Fatalf("nodeagenttest: the agent of %s is running", n.Name)
	}
	if err := n.start(); err != nil {
		t.Fatalf("nodeagenttest: %v", err)
	}
}

// Do runs fn on a thread inside the node's network namespace: sockets fn
// opens belong to the node. Goroutines fn starts (an http.Client's dials,
// for one) do not run there: use DialContext or HTTPClient for those.
func (n *Node) Do(fn func() error) error { return netns.DoPath(n.NetNS, fn) }

// DialContext connects from inside the node's network namespace, as
// net.Dialer.DialContext does from the test's.
func (n *Node) DialContext(ctx context.Context, nw, addr string) (c net.Conn, err error) {
	err = n.Do(func() (err error) {
		d := net.Dialer{FallbackDelay: -1} // no parallel dials on other threads
		c, err = d.DialContext(ctx, nw, addr)
		return err
	})
	return c, err
}

// HTTPClient is an HTTP client whose connections start in the node's
// network namespace, as the node's own processes' would.
//
// It trusts the cluster CA, which signs the agents' node servers (HTTPS).
func (n *Node) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.DialContext, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: n.c.CAPool()}}, Timeout: 10 * time.Second}
}

// PeerRoutes lists the node's routes to other nodes' pods (the agent's,
// protocol network.RouteProtocol): pod CIDR → node IP.
func (n *Node) PeerRoutes() (map[netip.Prefix]netip.Addr, error) {
	ns, err := netns.Open(n.NetNS)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: network.RouteProtocol, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("node %s: list routes: %w", n.Name, err)
	}
	out := map[netip.Prefix]netip.Addr{}
	for _, r := range rs {
		p, ok := prefixOf(r.Dst)
		gw, ok2 := netip.AddrFromSlice(r.Gw.To4())
		if ok && ok2 {
			out[p] = gw
		}
	}
	return out, nil
}

// leftovers lists what the node's agent should have removed when it
// stopped: links in its namespace besides lo and eth0, peer routes, pinned
// pod namespaces, cgroups.
func (n *Node) leftovers() []string {
	var out []string
	if ns, err := netns.Open(n.NetNS); err == nil {
		if h, err := netlink.NewHandleAt(ns); err == nil {
			links, _ := h.LinkList()
			for _, l := range links {
				if name := l.Attrs().Name; name != "lo" && name != "eth0" {
					out = append(out, "link "+name)
				}
			}
			h.Close()
		}
		ns.Close()
	}
	if routes, err := n.PeerRoutes(); err == nil && len(routes) > 0 {
		out = append(out, fmt.Sprintf("routes %v", sortedPrefixes(routes)))
	}
	entries, _ := os.ReadDir(n.NetnsDir)
	for _, e := range entries {
		out = append(out, "netns "+e.Name())
	}
	for _, cg := range CgroupsUnder(n.CgroupRoot) {
		if filepath.Base(cg) != n.Name { // the agent's root may stay
			out = append(out, "cgroup "+cg)
		}
	}
	for _, pid := range ProcessesIn(n.CgroupRoot) {
		out = append(out, fmt.Sprintf("process %d", pid))
	}
	for _, pid := range ProcessesMentioning(n.stateDir()) {
		out = append(out, fmt.Sprintf("containerd or shim process %d", pid))
	}
	for _, m := range append(mountsUnder(n.DataDir), mountsUnder(n.stateDir())...) {
		out = append(out, "mount "+m)
	}
	return out
}

// stateDir is the state directory of the node's containerd (its socket,
// which its shims name).
func (n *Node) stateDir() string {
	return containerd.DefaultStateDir(filepath.Join(n.DataDir, "containerd"))
}

// killShims kills what a killed agent's containerd left: its shims (their
// containers are killed through the cgroups), and removes its state.
func (n *Node) killShims() {
	for _, pid := range ProcessesMentioning(n.stateDir()) {
		unix.Kill(pid, unix.SIGKILL)
	}
	removeNetnsDir(n.stateDir()) // unmounts what is left there, then removes it
}

// stop stops a running agent with SIGTERM, then SIGKILL after timeout. A
// run that ends with an error (a data race the race detector found, say) is
// reported.
func (n *Node) stop(timeout time.Duration) error {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(timeout):
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
			n.cleanAfter = false
			return fmt.Errorf("the agent of %s did not stop within %v of SIGTERM: killed", n.Name, timeout)
		}
	}
	if p.err != nil {
		n.cleanAfter = false // it failed, or was killed: it cleaned nothing
	}
	if p.err != nil && !killed(p.err) {
		return fmt.Errorf("the agent of %s exited: %v (log %s)", n.Name, p.err, n.LogFile)
	}
	return nil
}

func killed(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return ws.Signaled() && ws.Signal() == syscall.SIGKILL
		}
	}
	return false
}

// agentEnv names the spec file that makes the test binary an agent.
const agentEnv = "SHOAL_NODEAGENTTEST_AGENT"

// agentSpec is what the agent process runs: its nodeagent.Config.
type agentSpec struct {
	Node       string `json:"node"`
	NodeIP     string `json:"nodeIP"`
	PodCIDR    string `json:"podCIDR"`
	NetNS      string `json:"netns"`
	DataDir    string `json:"dataDir"`
	Bridge     string `json:"bridge"`
	NetnsDir   string `json:"netnsDir"`
	CgroupRoot string `json:"cgroupRoot"`
	ClusterDNS string `json:"clusterDNS"`
	Server     string `json:"server"`
	CAFile     string `json:"caFile"`
	Token      string `json:"token"`
	Debug      bool   `json:"debug"`
}

// start runs the agent process and waits until it is ready.
func (n *Node) start() error {
	c := n.c
	token, err := c.Shoal.Tokens.NodeToken(n.Name)
	if err != nil {
		return fmt.Errorf("node %s: token: %w", n.Name, err)
	}
	spec := agentSpec{
		Node: n.Name, NodeIP: n.IP.String(), PodCIDR: n.PodCIDR.String(), NetNS: n.NetNS,
		DataDir: n.DataDir, Bridge: n.Bridge, NetnsDir: n.NetnsDir, CgroupRoot: n.CgroupRoot,
		ClusterDNS: c.Shoal.Registry.ClusterDNSIP().String(),
		Server:     c.Shoal.APIURL, CAFile: c.caFile, Token: token,
		Debug: os.Getenv("SHOAL_TEST_LOG") != "",
	}
	b, _ := json.Marshal(spec)
	specFile := filepath.Join(n.DataDir, "agent.json")
	if err := os.WriteFile(specFile, b, 0o600); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(n.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- nodeagenttest: starting the agent of %s at %s\n", n.Name, time.Now().Format(time.RFC3339Nano))
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	env := append(os.Environ(), agentEnv+"="+specFile)
	if os.Getenv("GORACE") == "" {
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	cmd := &exec.Cmd{
		Path: exe,
		// If the TestMain does not call Main, this runs no tests and exits,
		// and start says why below, instead of running them all again.
		Args:       []string{exe, "-test.run=^$"},
		Env:        env,
		Stdout:     logf,
		Stderr:     logf,
		ExtraFiles: []*os.File{w}, // fd 3: the ready line
		// SIGKILL when the test process dies.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	err = spawn(cmd)
	w.Close()
	if err != nil {
		return fmt.Errorf("node %s: start the agent: %w", n.Name, err)
	}
	p := &agentProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.mu.Lock()
	n.proc = p
	n.cleanAfter = true
	n.mu.Unlock()

	line := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 4096))
		line <- strings.TrimSpace(string(b))
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "READY") {
			<-p.done
			return fmt.Errorf("node %s: the agent exited before it was ready (%v); does TestMain call nodeagenttest.Main? Its log:\n%s",
				n.Name, p.err, tail(n.LogFile, 40))
		}
		n.mu.Lock()
		n.readyAt = time.Now()
		n.mu.Unlock()
	case <-time.After(60 * time.Second):
		return fmt.Errorf("node %s: the agent is not ready after 60 s; its log:\n%s", n.Name, tail(n.LogFile, 40))
	}
	return nil
}

// Main makes the test binary an agent process when the harness started it
// as one: it runs the agent until SIGTERM or SIGINT and exits. Otherwise it
// returns at once. TestMain calls it first thing.
func Main() {
	// containerd runs the test binary as the pod network's CNI plugin.
	cni.Main()
	path := os.Getenv(agentEnv)
	if path == "" {
		return
	}
	os.Exit(runAgent(path))
}

func runAgent(path string) int {
	// fd 3 is the ready pipe: no container may inherit it.
	syscall.CloseOnExec(3)
	ready := os.NewFile(3, "ready")
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "nodeagenttest agent: %v\n", err)
		return 1
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	var spec agentSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fail(err)
	}
	level := slog.LevelInfo
	if spec.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg := nodeagent.Config{
		REST:       &rest.Config{Host: spec.Server, BearerToken: spec.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: spec.CAFile}},
		NodeName:   spec.Node,
		NetNS:      spec.NetNS,
		DataDir:    spec.DataDir,
		Bridge:     spec.Bridge,
		NetnsDir:   spec.NetnsDir,
		CgroupRoot: spec.CgroupRoot,
		LogAddr:    spec.NodeIP + ":0",
		Logger:     log,
	}
	if cfg.NodeIP, err = netip.ParseAddr(spec.NodeIP); err != nil {
		return fail(err)
	}
	if cfg.PodCIDR, err = netip.ParsePrefix(spec.PodCIDR); err != nil {
		return fail(err)
	}
	if cfg.ClusterDNS, err = netip.ParseAddr(spec.ClusterDNS); err != nil {
		return fail(err)
	}
	a, err := nodeagent.New(cfg)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
		fmt.Fprintf(ready, "READY %s %s\n", a.PodCIDR(), a.LogAddr())
		ready.Close()
	case err := <-done:
		return fail(fmt.Errorf("run: %v", err))
	}
	if err := <-done; err != nil {
		return fail(fmt.Errorf("run: %v", err))
	}
	return 0
}

// spawn starts cmd from one OS thread that lives as long as the process:
// Pdeathsig fires when the thread that forked a child exits, and Go may
// end a thread (one a goroutine left locked), so none of the test's
// threads would do.
func spawn(cmd *exec.Cmd) error {
	spawnerOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: this thread never exits
			for req := range spawnReqs {
				req.errc <- req.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnReqs <- spawnReq{cmd, errc}
	return <-errc
}

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

var (
	spawnerOnce sync.Once
	spawnReqs   = make(chan spawnReq)
)

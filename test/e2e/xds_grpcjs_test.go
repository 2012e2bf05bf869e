package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

// TestXDSGRPCJS runs grpc-js-xds, the Node.js proxyless gRPC client
// (test/xdsjs/client.js, a child process), against `shoal up`: three
// TestService backends behind a selector-less Service of each lb policy.
// For every policy the client accepts everything Shoal serves (no NACK,
// seen both by Shoal and in grpc-js's own CSDS status), every call
// succeeds and every backend is reached; a running client stops using an
// endpoint soon after it goes not ready, and uses it again once it is back.
//
// It needs node and npm on the PATH (it skips without them) and runs
// `npm ci` in test/xdsjs when node_modules is missing or older than the
// lock file.
func TestXDSGRPCJS(t *testing.T) {
	t.Parallel()
	js := setupJSClient(t)
	nacks := &jsNACKLog{}
	s := clustertest.Start(t, clustertest.Options{Log: slog.New(nacks.handler())})
	cs := s.Clientset(t)
	ctx := t.Context()
	ips := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}
	port, backends := xdstest.StartBackends(t, 16, ips...)
	var addrs []string
	for _, b := range backends {
		addrs = append(addrs, b.Addr)
	}

	// One Service per policy ("" is the default, least-loaded), each with
	// the same three ready endpoints.
	policies := []string{"", "round-robin", "least-request"}
	svcName := map[string]string{"": "jsecho-ll", "round-robin": "jsecho-rr", "least-request": "jsecho-lr"}
	ready := map[string]bool{}
	for _, ip := range ips {
		ready[ip] = true
	}
	sliceRV := map[string]string{} // service → slice resourceVersion
	for _, p := range policies {
		name := svcName[p]
		if _, err := cs.CoreV1().Services("default").Create(ctx, xdstest.Service("default", name, 50051, p), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sl, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, xdstest.Slice("default", name, port, ready), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sliceRV[name] = sl.ResourceVersion
	}
	target := func(svc string) string { return "xds:///" + svc + ".default.svc.cluster.local:50051" }

	// Every policy, N calls each, from one grpc-js process with the default
	// environment; and least-request again with grpc-js's (off by default)
	// client_side_weighted_round_robin switched on, so that the second entry
	// of its policy list is the one grpc-js takes. Both run at once.
	const calls = 300
	type run struct {
		node    string
		env     []string
		targets []string
		lines   []jsLine
		stderr  string
		err     error
	}
	runs := []*run{
		{node: "grpcjs-policies", targets: []string{target("jsecho-ll"), target("jsecho-rr"), target("jsecho-lr")}},
		{node: "grpcjs-wrr", env: []string{"GRPC_EXPERIMENTAL_XDS_WRR_LB=true"}, targets: []string{target("jsecho-lr")}},
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			args := []string{"--calls", fmt.Sprint(calls)}
			for _, tg := range r.targets {
				args = append(args, "--target", tg)
			}
			r.lines, r.stderr, r.err = js.run(ctx, s.XDSAddr, r.node, r.env, 2*time.Minute, args...)
		})
	}
	wg.Wait()
	policyOf := map[string]string{target("jsecho-ll"): "least-loaded", target("jsecho-rr"): "round-robin", target("jsecho-lr"): "least-request"}
	for _, r := range runs {
		// Exit status 3 is a channel that never became ready: the summary
		// and xDS status below say why, so carry on to them.
		if r.err != nil {
			t.Errorf("node %s: %v\nstderr:\n%s", r.node, r.err, r.stderr)
		} else if r.stderr != "" {
			t.Logf("node %s stderr:\n%s", r.node, r.stderr)
		}
		summaries := map[string]jsLine{}
		var status *jsLine
		for i, l := range r.lines {
			switch l.Kind {
			case "summary":
				summaries[l.Target] = l
			case "xds":
				status = &r.lines[i]
			}
		}
		for _, tg := range r.targets {
			label := policyOf[tg]
			if len(r.env) > 0 {
				label += " (" + strings.Join(r.env, " ") + ")"
			}
			sum, ok := summaries[tg]
			if !ok {
				t.Errorf("%s: no summary from the client\nstdout: %v\nstderr:\n%s", label, r.lines, r.stderr)
				continue
			}
			t.Logf("grpc-js %s: ready after %d ms; %d/%d calls ok; %s", label, sum.ReadyMS, sum.OK, sum.Calls, jsShares(sum.ByBackend, addrs))
			if sum.ReadyError != "" {
				t.Errorf("%s: the channel never became ready: %s", label, sum.ReadyError)
				continue
			}
			if sum.OK != calls || len(sum.Errors) > 0 {
				t.Errorf("%s: %d of %d calls succeeded; errors: %v", label, sum.OK, calls, sum.Errors)
			}
			for _, a := range addrs {
				if sum.ByBackend[a] == 0 {
					t.Errorf("%s: backend %s got no calls: %v", label, a, sum.ByBackend)
				}
			}
			if policyOf[tg] == "round-robin" {
				for _, a := range addrs {
					if share := float64(sum.ByBackend[a]) / calls; share < 0.2 || share > 0.47 {
						t.Errorf("round-robin: backend %s got %.0f%% of calls, want about a third", a, 100*share)
					}
				}
			}
		}
		jsCheckAccepted(t, r.node, status, r.targets, nacks)
	}
	if t.Failed() {
		t.FailNow()
	}

	// A running client and one endpoint going not ready: grpc-js must stop
	// using it soon after the write (the default policy: its locality goes
	// away), and use it again once it is back.
	f := js.follow(t, s.XDSAddr, "grpcjs-flip", target("jsecho-ll"))
	f.waitFor(t, 20*time.Second, "the following client reaches all three backends", func(tk jsLine, seen map[string]int) bool {
		return len(seen) == 3
	})
	flip := func(ip string, isReady bool) time.Time {
		ready[ip] = isReady
		next := xdstest.Slice("default", "jsecho-ll", port, ready)
		next.ResourceVersion = sliceRV["jsecho-ll"]
		sl, err := cs.DiscoveryV1().EndpointSlices("default").Update(ctx, next, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sliceRV["jsecho-ll"] = sl.ResourceVersion
		return time.Now()
	}
	gone := backends[1].Addr // 127.0.0.12
	written := flip("127.0.0.12", false)
	// Done when a full second of ticks (each ~100 ms, every call ok) has
	// not reached gone; moved is when that clean run started.
	var moved time.Time
	clean := 0
	f.waitFor(t, 20*time.Second, "calls leave "+gone+" after it went not ready", func(tk jsLine, _ map[string]int) bool {
		if len(tk.Errors) > 0 {
			t.Errorf("calls failed while %s went not ready: %v", gone, tk.Errors)
		}
		if tk.ByBackend[gone] > 0 || tk.OK == 0 {
			clean = 0
			return false
		}
		if clean == 0 {
			moved = tk.received
		}
		clean++
		return clean >= 10
	})
	lag := moved.Sub(written)
	t.Logf("grpc-js stopped calling %s %v after the write (tick resolution ~100 ms)", gone, lag.Round(time.Millisecond))
	back := flip("127.0.0.12", true)
	var returned time.Time
	f.waitFor(t, 20*time.Second, "calls reach "+gone+" again once it is ready", func(tk jsLine, _ map[string]int) bool {
		if len(tk.Errors) > 0 {
			t.Errorf("calls failed while %s came back: %v", gone, tk.Errors)
		}
		returned = tk.received
		return tk.ByBackend[gone] > 0
	})
	t.Logf("grpc-js called %s again %v after it was marked ready", gone, returned.Sub(back).Round(time.Millisecond))
	sum, status := f.stop(t)
	t.Logf("grpc-js following client: %d/%d calls ok over the flips; %s", sum.OK, sum.Calls, jsShares(sum.ByBackend, addrs))
	if sum.OK != sum.Calls {
		t.Errorf("following client: %d of %d calls failed: %v", sum.Calls-sum.OK, sum.Calls, sum.Errors)
	}
	jsCheckAccepted(t, "grpcjs-flip", status, []string{target("jsecho-ll")}, nacks)
}

// jsCheckAccepted fails the test if Shoal logged a NACK from node, or if
// grpc-js's own status (CSDS, from the client's last line) has any resource
// that is not ACKED, or lacks the Listener, Cluster or ClusterLoadAssignment
// of a target (the route configuration is inline in the Listener).
//
// Why both, and not the client's stderr: grpc-js-xds logs nothing at its
// default verbosity when it rejects a resource; the rejection only shows as
// error_detail in a DEBUG trace of the next request (GRPC_TRACE=xds_client),
// so grepping stderr for "NACK" would pass whatever happened. Shoal's xDS
// server logs every NACK once with the node id and grpc-js's reason; the
// shoal_xds_nacks_total counter would be simpler but is process-wide, shared
// with every other test in this binary.
func jsCheckAccepted(t *testing.T, node string, status *jsLine, targets []string, nacks *jsNACKLog) {
	t.Helper()
	for _, n := range nacks.of(node) {
		t.Errorf("grpc-js (node %s) NACKed a %s: %s", node, n.typeURL, n.reason)
	}
	if status == nil {
		t.Errorf("node %s: the client printed no xDS status", node)
		return
	}
	have := map[string]bool{}
	acked := map[string]int{}
	for _, r := range status.Resources {
		have[r.Type+" "+r.Name] = true
		if r.Status != "ACKED" {
			t.Errorf("grpc-js (node %s) holds %s %q as %s: %s", node, r.Type, r.Name, r.Status, r.Error)
		} else {
			acked[r.Type]++
		}
	}
	t.Logf("grpc-js (node %s) CSDS: ACKED %v of %d resources; Shoal logged %d NACKs from it", node, acked, len(status.Resources), len(nacks.of(node)))
	for _, tg := range targets {
		name := strings.TrimPrefix(tg, "xds:///")
		for _, typ := range []string{"Listener", "Cluster", "ClusterLoadAssignment"} {
			if !have[typ+" "+name] {
				t.Errorf("grpc-js (node %s) has no %s %q; it holds %+v", node, typ, name, status.Resources)
			}
		}
	}
}

// shares formats calls per backend as percentages, in addrs order.
func jsShares(by map[string]int, addrs []string) string {
	total := 0
	for _, n := range by {
		total += n
	}
	var parts []string
	for _, a := range addrs {
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(by[a]) / float64(total)
		}
		parts = append(parts, fmt.Sprintf("%s %d (%.0f%%)", a, by[a], pct))
	}
	for a, n := range by {
		if !slices.Contains(addrs, a) {
			parts = append(parts, fmt.Sprintf("unexpected %s %d", a, n))
		}
	}
	return strings.Join(parts, ", ")
}

// jsLine is one JSON line from client.js: a per-target summary, a tick of
// --follow, or the xDS status it ends with.
type jsLine struct {
	Kind       string         `json:"kind"`
	Target     string         `json:"target"`
	ReadyMS    int            `json:"ready_ms"`
	ReadyError string         `json:"ready_error"`
	TMS        int            `json:"t_ms"`
	Calls      int            `json:"calls"`
	OK         int            `json:"ok"`
	ByBackend  map[string]int `json:"by_backend"`
	Errors     map[string]int `json:"errors"`
	Resources  []jsResource   `json:"resources"`

	received time.Time // when the test read the line
}

// jsResource is one resource of grpc-js's CSDS status.
type jsResource struct {
	Node    string `json:"node"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Status  string `json:"status"` // ACKED, NACKED, REQUESTED, DOES_NOT_EXIST
	Version string `json:"version"`
	Error   string `json:"error"`
}

// jsClient runs test/xdsjs/client.js.
type jsClient struct{ node, dir string }

// setupJSClient finds node and npm (testenv.Node) and installs
// test/xdsjs's locked dependencies unless node_modules is up to date.
func setupJSClient(t *testing.T) jsClient {
	t.Helper()
	node := lookPath(t, testenv.Node, "node")
	npm := lookPath(t, testenv.Node, "npm")
	dir, err := filepath.Abs(filepath.Join("..", "xdsjs"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatalf("test/xdsjs: %v", err)
	}
	// npm writes node_modules/.package-lock.json last: missing means never
	// installed or interrupted; older than the lock file means stale.
	if st, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil && !st.ModTime().Before(lock.ModTime()) {
		return jsClient{node: node, dir: dir}
	}
	const timeout = 3 * time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timed out after %v)", err, timeout)
		}
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	t.Logf("npm ci in test/xdsjs took %v", time.Since(start).Round(100*time.Millisecond))
	return jsClient{node: node, dir: dir}
}

// command is client.js with the bootstrap for xdsAddr and nodeID in its
// environment (and no other bootstrap: GRPC_XDS_BOOTSTRAP would win).
func (c jsClient) command(ctx context.Context, xdsAddr, nodeID string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.node, append([]string{filepath.Join(c.dir, "client.js")}, args...)...)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "GRPC_XDS_BOOTSTRAP" || k == "GRPC_XDS_BOOTSTRAP_CONFIG" || k == "GRPC_EXPERIMENTAL_XDS_WRR_LB" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "GRPC_XDS_BOOTSTRAP_CONFIG="+string(xdstest.Bootstrap(xdsAddr, nodeID)))
	cmd.Env = append(cmd.Env, env...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs client.js to the end and parses its output.
func (c jsClient) run(ctx context.Context, xdsAddr, nodeID string, env []string, timeout time.Duration, args ...string) ([]jsLine, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := c.command(ctx, xdsAddr, nodeID, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	lines, perr := parseJSLines(&stdout)
	if err == nil {
		err = perr
	}
	return lines, stderr.String(), err
}

func parseJSLines(r io.Reader) ([]jsLine, error) {
	var lines []jsLine
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l jsLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return lines, fmt.Errorf("client output %q: %w", sc.Text(), err)
		}
		l.received = time.Now()
		lines = append(lines, l)
	}
	return lines, sc.Err()
}

// jsFollow is client.js --follow: it calls until its stdin closes,
// reporting a tick every 100 ms.
type jsFollow struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan jsLine
	stderr *bytes.Buffer
	seen   map[string]int // every backend reached so far
	last   []jsLine       // what the client printed after its ticks
}

func (c jsClient) follow(t *testing.T, xdsAddr, nodeID, target string) *jsFollow {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	cmd := c.command(ctx, xdsAddr, nodeID, nil, "--follow", "--interval-ms", "100", "--target", target)
	f := &jsFollow{cmd: cmd, lines: make(chan jsLine, 1024), stderr: &bytes.Buffer{}, seen: map[string]int{}}
	cmd.Stderr = f.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.stdin = stdin
	go func() {
		defer close(f.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l jsLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = jsLine{Kind: "garbage", Target: sc.Text()}
			}
			l.received = time.Now()
			f.lines <- l
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		cancel()
		cmd.Wait()
	})
	return f
}

// waitFor reads ticks until done holds for one (given it and every backend
// reached so far), failing the test after timeout.
func (f *jsFollow) waitFor(t *testing.T, timeout time.Duration, what string, done func(jsLine, map[string]int) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-f.lines:
			if !ok {
				t.Fatalf("%s: the client exited: %v\nstderr:\n%s", what, f.last, f.stderr)
			}
			if l.Kind != "tick" {
				f.last = append(f.last, l)
				if l.ReadyError != "" || l.Kind == "garbage" {
					t.Fatalf("%s: %+v\nstderr:\n%s", what, l, f.stderr)
				}
				continue
			}
			for a, n := range l.ByBackend {
				f.seen[a] += n
			}
			if done(l, f.seen) {
				return
			}
		case <-deadline:
			t.Fatalf("%s: not within %v (calls so far %v)\nstderr:\n%s", what, timeout, f.seen, f.stderr)
		}
	}
}

// stop closes the client's stdin and returns its summary and xDS status.
func (f *jsFollow) stop(t *testing.T) (jsLine, *jsLine) {
	t.Helper()
	f.stdin.Close()
	for l := range f.lines {
		if l.Kind != "tick" {
			f.last = append(f.last, l)
		}
	}
	if err := f.cmd.Wait(); err != nil {
		t.Errorf("following client: %v\nstderr:\n%s", err, f.stderr)
	}
	var sum jsLine
	var status *jsLine
	for i, l := range f.last {
		switch l.Kind {
		case "summary":
			sum = l
		case "xds":
			status = &f.last[i]
		}
	}
	if sum.Kind == "" {
		t.Errorf("following client printed no summary: %+v\nstderr:\n%s", f.last, f.stderr)
	}
	return sum, status
}

// jsNACKLog is a slog handler for Shoal's logger that keeps the NACKs its xDS
// server logs (a Warn record with the client's node id and reason, once per
// rejected response) and, with SHOAL_TEST_LOG set, also prints everything.
type jsNACKLog struct {
	mu    sync.Mutex
	nacks []jsNACK
}

type jsNACK struct{ node, typeURL, reason string }

func (l *jsNACKLog) handler() slog.Handler {
	var next slog.Handler
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		next = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return &jsNACKHandler{log: l, next: next}
}

func (l *jsNACKLog) of(node string) []jsNACK {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []jsNACK
	for _, n := range l.nacks {
		if n.node == node {
			out = append(out, n)
		}
	}
	return out
}

type jsNACKHandler struct {
	log  *jsNACKLog
	next slog.Handler // may be nil
}

func (h *jsNACKHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn || h.next != nil
}

func (h *jsNACKHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && strings.Contains(r.Message, "rejected") {
		var n jsNACK
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "node":
				n.node = a.Value.String()
			case "type":
				n.typeURL = a.Value.String()
			case "reason":
				n.reason = a.Value.String()
			}
			return true
		})
		if n.node != "" {
			h.log.mu.Lock()
			h.log.nacks = append(h.log.nacks, n)
			h.log.mu.Unlock()
		}
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *jsNACKHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	if h.next != nil {
		c.next = h.next.WithAttrs(attrs)
	}
	return &c
}

func (h *jsNACKHandler) WithGroup(name string) slog.Handler {
	c := *h
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}

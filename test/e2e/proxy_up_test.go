package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/nodeagent/nodeagenttest"
)

// echoServer is a pod's HTTP/1.1 keep-alive server answering its host name
// (the pod's name) after $DELAY_MS milliseconds. Nagle is off: http.server
// writes the head and the body separately, and the body would wait for the
// proxy's delayed ACK (40 ms).
const echoServer = `import http.server, os, socket, time
delay = int(os.environ.get('DELAY_MS', '0')) / 1000.0
name = socket.gethostname().encode()
class H(http.server.BaseHTTPRequestHandler):
  protocol_version = 'HTTP/1.1'
  disable_nagle_algorithm = True
  def log_message(self, *a): pass
  def do_GET(self):
    if delay: time.sleep(delay)
    self.send_response(200); self.send_header('Content-Length', str(len(name))); self.end_headers(); self.wfile.write(name)
http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()`

// proxyManifest: "echo", a 3-replica Deployment behind a Service, for the
// rolling update and the killed pod; "het", two fast pods and one 10×
// slower behind two Services over the same pods, one least-loaded (the
// default) and one round robin.
func proxyManifest() string {
	indented := "        - |\n" + indent(echoServer, "          ")
	deployment := func(name, app string, replicas int, delayMS int) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s}
spec:
  replicas: %d
  selector: {matchLabels: {app: %s, deployment: %s}}
  template:
    metadata: {labels: {app: %s, deployment: %s}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: main
        env: [{name: DELAY_MS, value: "%d"}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
        command:
        - python3
        - -c
%s---
`, name, replicas, app, name, app, name, delayMS, indented)
	}
	service := func(name, app, policy string) string {
		ann := ""
		if policy != "" {
			ann = fmt.Sprintf("\n  annotations: {shoal.io/lb-policy: %s}", policy)
		}
		return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s%s
spec:
  selector: {app: %s}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
`, name, ann, app)
	}
	return deployment("echo", "echo", 3, 0) + service("echo", "echo", "") +
		deployment("het-fast", "het", 2, 5) + deployment("het-slow", "het", 1, 50) +
		service("het", "het", "") + service("het-rr", "het", "round-robin")
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// testUpProxyUnderLoad runs `shoal up` as root and puts its node proxy
// under constant load from the host: a rolling update of the backend fails
// no request; a SIGKILLed pod fails at most the requests in flight on it;
// with one pod 10× slower the least-loaded Service sends it far less than
// round robin does, and the client's p99 drops.
func testUpProxyUnderLoad(t *testing.T, bin string) {
	// shoal up runs its agent (root, cgroups); the pods run python3, and
	// the test drives the cluster with kubectl.
	testenv.RequireOK(t, testenv.Root, nodeagent.Preflight(""))
	testenv.Require(t, testenv.Python3)
	kubectlBin := lookPath(t, testenv.Kubectl, "kubectl")
	agentSlot.Lock()
	defer agentSlot.Unlock()
	if _, err := os.Stat("/sys/class/net/shoal0"); err == nil {
		t.Fatal("an agent with the defaults already runs here (the bridge shoal0 exists), or a crashed one left it")
	}
	dir := t.TempDir()
	cleanNode(t, dir)
	t.Cleanup(func() { cleanNode(t, dir) })
	admin := testenv.FreeAddr(t)
	p := startShoal(t, bin, dir, freeAddrs(t), "--agent=on", "--proxy-admin-addr", admin)
	p.waitReady(t)
	cs := p.clientset(t)
	ctx := t.Context()
	k := &kubectl{bin: kubectlBin, kubeconfig: p.kubeconfig(), cacheDir: filepath.Join(dir, "kubectl-cache"), dir: dir}
	k.ok(t, "apply", "-f", k.write(t, "proxy.yaml", proxyManifest()))
	waitReadyPods(t, cs, "default", "app=echo", 3)
	waitReadyPods(t, cs, "default", "app=het", 3)
	vip := func(name string) string {
		svc, err := cs.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return netip.AddrPortFrom(netip.MustParseAddr(svc.Spec.ClusterIP), 80).String()
	}
	echo := vip("echo")
	testenv.Eventually(t, 20*time.Second, "the echo Service answers through the node proxy", func() error {
		_, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + echo + "/")
		return err
	})

	t.Run("RollingUpdateFailsNothing", func(t *testing.T) {
		l := startLoad(echo, 8)
		time.Sleep(time.Second)
		k.ok(t, "set", "env", "deployment/echo", "GENERATION=2")
		waitDeploymentDone(t, cs, "default", "echo")
		waitReadyPods(t, cs, "default", "app=echo", 3) // and the old ones gone
		time.Sleep(time.Second)
		r := l.stop()
		t.Logf("rolling update of 3 pods under load: %d requests, %d failed, answered by %d pods", r.total(), r.failed, len(r.byPod))
		if r.failed != 0 {
			t.Errorf("%d of %d requests failed during the rolling update; first errors: %v", r.failed, r.total(), r.errors)
		}
		if len(r.byPod) < 6 {
			t.Errorf("requests reached %d pods (%v); want the 3 old and the 3 new", len(r.byPod), r.byPod)
		}
	})

	t.Run("KilledPodFailsOnlyItsInFlight", func(t *testing.T) {
		pods := waitReadyPods(t, cs, "default", "app=echo", 3)
		victim := pods[0]
		const clients = 8
		l := startLoad(echo, clients)
		time.Sleep(time.Second)
		restarts := restartCount(&victim)
		killed := killPodProcesses(t, string(victim.UID), "python3")
		t.Logf("SIGKILLed %d python3 process(es) of pod %s", killed, victim.Name)
		// Through the restart: readiness fails, the endpoint goes, the
		// container comes back after its back-off and is ready again, and
		// the proxy sends it requests again.
		testenv.Eventually(t, settleTimeout, "the killed pod's container restarted and ready", func() error {
			p, err := cs.CoreV1().Pods("default").Get(ctx, victim.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if n := restartCount(p); n <= restarts || !podReady(p) {
				return fmt.Errorf("restart count %d (was %d), ready %v", n, restarts, podReady(p))
			}
			return nil
		})
		back := l.snapshot().byPod[victim.Name]
		testenv.Eventually(t, 10*time.Second, "the restarted pod answers through the proxy", func() error {
			if l.snapshot().byPod[victim.Name] == back {
				return fmt.Errorf("no request answered by %s since it was ready again", victim.Name)
			}
			return nil
		})
		r := l.stop()
		t.Logf("pod SIGKILLed under load: %d requests, %d failed; it answered %d after its restart", r.total(), r.failed, r.byPod[victim.Name]-back)
		// At most the requests in flight on the pod when it died, one per
		// client; the proxy retries idempotent requests whose connection
		// was refused or reset, so usually none.
		if r.failed > clients {
			t.Errorf("%d requests failed; want at most the %d that can have been in flight on the pod; first errors: %v", r.failed, clients, r.errors)
		}
	})

	t.Run("SlowPodLeastLoadedVersusRoundRobin", func(t *testing.T) {
		runLoad(vip("het"), 8, time.Second) // warm-up: the proxy learns response times
		ll := runLoad(vip("het"), 8, 4*time.Second)
		runLoad(vip("het-rr"), 8, time.Second)
		weights := endpointWeights(t, admin, "het.default.svc.cluster.local:80")
		var hetIPs []string
		for _, p := range waitReadyPods(t, cs, "default", "app=het", 3) {
			hetIPs = append(hetIPs, p.Status.PodIP)
		}
		rr := runLoad(vip("het-rr"), 8, 4*time.Second)
		slowShare := func(r loadResult) float64 {
			n := 0
			for pod, c := range r.byPod {
				if strings.HasPrefix(pod, "het-slow-") {
					n += c
				}
			}
			return float64(n) / float64(max(1, r.total()))
		}
		t.Logf("one pod of three 10× slower (50 ms vs 5 ms), 8 keep-alive clients, 4 s each after 1 s of warm-up:")
		t.Logf("  least-loaded: %d requests, slow pod %.1f%%, p50 %v, p99 %v", ll.total(), 100*slowShare(ll), ll.percentile(50), ll.percentile(99))
		t.Logf("  round robin:  %d requests, slow pod %.1f%%, p50 %v, p99 %v", rr.total(), 100*slowShare(rr), rr.percentile(50), rr.percentile(99))
		// The control plane's weights (for every other client of the
		// pods) see the slow pod as slow, though the proxy kept it idle.
		slowIP := ""
		for _, p := range waitReadyPods(t, cs, "default", "deployment=het-slow", 1) {
			slowIP = p.Status.PodIP
		}
		t.Logf("  EDS weights after the least-loaded run: %v (slow pod %s)", weights, slowIP)
		// Every pod has a weight, or the comparison below proves nothing.
		for _, ip := range hetIPs {
			if _, ok := weights[ip]; !ok {
				t.Errorf("the proxy's admin endpoint has no weight for pod IP %s (weights %v, pods %v)", ip, weights, hetIPs)
			}
		}
		if len(weights) != len(hetIPs) || slowIP == "" {
			t.Fatalf("weights %v for pods %v (slow %q): want one per pod", weights, hetIPs, slowIP)
		}
		for ip, w := range weights {
			if ip != slowIP && weights[slowIP] > w {
				t.Errorf("the slow pod's weight %d is above %s's %d: the control plane reads the idle slow pod as spare capacity", weights[slowIP], ip, w)
			}
		}
		if ll.failed+rr.failed != 0 {
			t.Errorf("failed requests: least-loaded %d, round robin %d: %v %v", ll.failed, rr.failed, ll.errors, rr.errors)
		}
		if s := slowShare(rr); s < 0.25 {
			t.Errorf("round robin sent %.1f%% to the slow pod; want about a third", 100*s)
		}
		// The proxy weighs each pod's active requests by its response
		// time: the slow pod gets the odd probe, not every request that
		// finds it idle (least connections alone sends it ~8%).
		if s := slowShare(ll); s > 0.05 {
			t.Errorf("least-loaded sent %.1f%% to the slow pod; want under 5%%", 100*s)
		}
	})

	t.Run("AdminEndpoint", func(t *testing.T) {
		res, err := http.Get("http://" + admin + "/clusters")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, want := range []string{`"name": "het.default.svc.cluster.local:80"`, `"balance": "round_robin"`, `"active"`, `"rtt_ms"`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("admin /clusters lacks %s:\n%.2000s", want, b)
			}
		}
		res, err = http.Get("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), `service="het.default.svc.cluster.local:80"`) {
			t.Errorf("admin /metrics has no per-service series for het:\n%.2000s", b)
		}
	})

	p.signal(t, syscall.SIGTERM)
	if code := p.exit(t, exitTimeout); code != 0 {
		t.Errorf("shoal up exited with %d", code)
	}
	if left := nodeLeftovers(dir); len(left) > 0 {
		t.Errorf("shoal up left %v after a clean stop", left)
	}
}

// endpointWeights reads a cluster's endpoint weights (by IP) from the
// proxy's admin endpoint.
func endpointWeights(t *testing.T, admin, cluster string) map[string]uint32 {
	t.Helper()
	res, err := http.Get("http://" + admin + "/clusters")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var clusters []struct {
		Name      string
		Endpoints []struct {
			Address string
			Weight  uint32
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&clusters); err != nil {
		t.Fatal(err)
	}
	out := map[string]uint32{}
	for _, c := range clusters {
		if c.Name == cluster {
			for _, e := range c.Endpoints {
				out[netip.MustParseAddrPort(e.Address).Addr().String()] = e.Weight
			}
		}
	}
	return out
}

// restartCount is the restarts of p's first container (0 before it has a
// status).
func restartCount(p *corev1.Pod) int32 {
	if len(p.Status.ContainerStatuses) == 0 {
		return 0
	}
	return p.Status.ContainerStatuses[0].RestartCount
}

// killPodProcesses SIGKILLs the processes of the pod whose program's name
// starts with comm, and returns how many.
func killPodProcesses(t *testing.T, uid, comm string) int {
	t.Helper()
	n := 0
	for _, pid := range nodeagenttest.ProcessesIn("pod" + uid) { // its cgroup parent, /shoal/pod<uid>
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if strings.HasPrefix(filepath.Base(argv0), comm) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
				n++
			}
		}
	}
	if n == 0 {
		t.Fatalf("no %s process in the cgroups of pod %s", comm, uid)
	}
	return n
}

// load is a set of keep-alive HTTP clients sending GETs in a closed loop.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    loadResult
}

type loadResult struct {
	byPod     map[string]int
	failed    int
	errors    []string // the first few
	latencies []time.Duration
}

func (r loadResult) total() int {
	n := r.failed
	for _, c := range r.byPod {
		n += c
	}
	return n
}

func (r loadResult) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

// startLoad starts clients sending to addr until stop. Bounded: each
// request times out after 5 s and the caller stops it within seconds.
func startLoad(addr string, clients int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, res: loadResult{byPod: map[string]int{}}}
	for range clients {
		l.wg.Go(func() {
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			for ctx.Err() == nil {
				start := time.Now()
				pod, err := getPod(ctx, c, "http://"+addr+"/")
				took := time.Since(start)
				if ctx.Err() != nil {
					return // the stop, not the proxy, ended it
				}
				l.mu.Lock()
				if err != nil {
					l.res.failed++
					if len(l.res.errors) < 5 {
						l.res.errors = append(l.res.errors, err.Error())
					}
				} else {
					l.res.byPod[pod]++
					l.res.latencies = append(l.res.latencies, took)
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// snapshot is the result so far.
func (l *load) snapshot() loadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.res
	r.byPod = maps.Clone(r.byPod)
	r.errors = slices.Clone(r.errors)
	r.latencies = nil
	return r
}

func (l *load) stop() loadResult {
	l.cancel()
	l.wg.Wait()
	return l.res
}

func runLoad(addr string, clients int, d time.Duration) loadResult {
	l := startLoad(addr, clients)
	time.Sleep(d)
	return l.stop()
}

func getPod(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", res.Status, b)
	}
	return string(b), nil
}

package e2e

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/internal/mountinfo"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/nodeagenttest"
)

// upPodsManifest is applied after the README's Deployment of the node agent
// section: its Service and a pod that resolves names.
const upPodsManifest = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: resolve}
spec:
  restartPolicy: Never
  containers:
  - name: main
    command: ["python3", "-c", "import socket; print('kubernetes', socket.gethostbyname('kubernetes.default.svc.cluster.local')); print('web', socket.gethostbyname('web'))"]
---
apiVersion: v1
kind: Pod
metadata: {name: fetch}
spec:
  restartPolicy: Never
  containers:
  - name: main
    command: ["python3", "-c", "import time, urllib.request\nfor i in range(100):\n  try:\n    urllib.request.urlopen('http://web.default.svc.cluster.local/', timeout=5); break\n  except Exception as e:\n    print('waiting:', e); time.sleep(0.1)\nfor i in range(6): print('status', urllib.request.urlopen('http://web.default.svc.cluster.local/', timeout=5).status)"]
`

// whoManifest is a Deployment whose pods answer HTTP/1.1 (keep-alive) with
// their name, its Service, and a pod that makes 30 requests to it over one
// connection and prints how many pods answered.
const whoManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: who}
spec:
  replicas: 3
  selector: {matchLabels: {app: who}}
  template:
    metadata: {labels: {app: who}}
    spec:
      containers:
      - name: who
        command: ["python3", "-c", "import http.server, socket\nclass H(http.server.BaseHTTPRequestHandler):\n  protocol_version = 'HTTP/1.1'\n  def do_GET(self):\n    b = socket.gethostname().encode()\n    self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)\nhttp.server.ThreadingHTTPServer(('', 8080), H).serve_forever()"]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: who}
spec:
  selector: {app: who}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: keepalive}
spec:
  restartPolicy: Never
  containers:
  - name: main
    command: ["python3", "-c", "import http.client, time\nfor i in range(100):\n  try:\n    c = http.client.HTTPConnection('who.default.svc.cluster.local', 80, timeout=5); c.request('GET', '/'); r = c.getresponse(); r.read()\n    if r.status == 200: break\n  except Exception as e: print('waiting:', e)\n  time.sleep(0.2)\nseen = set()\nfor i in range(30):\n  c.request('GET', '/'); seen.add(c.getresponse().read().decode())\nprint('pods', len(seen), sorted(seen))"]
`

// testUpRunsPods runs `shoal up` as root with its node agent: the README's
// Deployment applied with kubectl runs as three processes with their own IPs from the
// node's pod CIDR, each answers HTTP from the host, a pod resolves the
// kubernetes Service and its sibling Service through its resolv.conf (its
// output comes back through `kubectl logs`), and the Service's ClusterIP
// answers, through the node proxy, from the host and from a pod. Stopping shoal up leaves no
// pod, interface or namespace behind.
func testUpRunsPods(t *testing.T, bin string) {
	// shoal up runs its agent (root, cgroups); the pods run python3, and
	// the test drives the cluster with kubectl.
	testenv.RequireOK(t, testenv.Root, nodeagent.Preflight(""))
	testenv.Require(t, testenv.Python3)
	kubectlBin := lookPath(t, testenv.Kubectl, "kubectl")
	// One agent with the default bridge, netns dir and pod CIDR at a time.
	agentSlot.Lock()
	defer agentSlot.Unlock()
	if _, err := os.Stat("/sys/class/net/shoal0"); err == nil {
		t.Fatal("an agent with the defaults already runs here (the bridge shoal0 exists), or a crashed one left it")
	}
	dir := t.TempDir()
	cleanNode(t, dir) // what a killed run may have left: VIPs on lo, empty cgroups
	// Registered first, so it runs after the process is gone, even when
	// the test fails before a clean stop.
	t.Cleanup(func() { cleanNode(t, dir) })
	p := startShoal(t, bin, dir, freeAddrs(t), "--agent=on")
	p.waitReady(t)
	cs := p.clientset(t)
	ctx := t.Context()
	testenv.Eventually(t, 20*time.Second, "the node registers", func() error {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 1 {
			return fmt.Errorf("nodes: %v %v", nodes, err)
		}
		return nil
	})

	k := &kubectl{bin: kubectlBin, kubeconfig: p.kubeconfig(), cacheDir: filepath.Join(dir, "kubectl-cache"), dir: dir}
	applied := time.Now()
	k.ok(t, "apply", "-f", k.write(t, "web.yaml", readmeBlock(t, "#### Pods without images", "yaml")))
	k.ok(t, "apply", "-f", k.write(t, "app.yaml", upPodsManifest))
	var pods []corev1.Pod
	testenv.Eventually(t, 30*time.Second, "3 web pods Running and Ready", func() error {
		list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && podReady(&p) {
				ready++
			}
		}
		if ready != 3 {
			return fmt.Errorf("%d of 3 ready", ready)
		}
		pods = list.Items
		return nil
	})
	took := time.Since(applied)
	// How long is measured by make bench-podstart, not asserted here.
	t.Logf("3 pods Running and Ready %v after kubectl apply", took.Round(time.Millisecond))

	node, err := cs.CoreV1().Nodes().Get(ctx, pods[0].Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cidr := netip.MustParsePrefix(node.Spec.PodCIDR)
	if !netip.MustParsePrefix("10.244.0.0/16").Contains(cidr.Addr()) {
		t.Errorf("node pod CIDR %s is outside 10.244.0.0/16", cidr)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, pod := range pods {
		ip := netip.MustParseAddr(pod.Status.PodIP)
		if !cidr.Contains(ip) {
			t.Errorf("pod %s IP %s outside the node's %s", pod.Name, ip, cidr)
		}
		resp, err := hc.Get("http://" + netip.AddrPortFrom(ip, 8080).String() + "/")
		if err != nil {
			t.Errorf("GET pod %s at %s: %v", pod.Name, ip, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET pod %s: %s", pod.Name, resp.Status)
		}
	}

	svc, err := cs.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the resolve pod succeeds", func() error {
		pod, err := cs.CoreV1().Pods("default").Get(ctx, "resolve", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s", pod.Status.Phase)
		}
		return nil
	})
	logs, _ := k.ok(t, "logs", "resolve")
	for _, want := range []string{"kubernetes 10.96.0.1", "web " + svc.Spec.ClusterIP} {
		if !strings.Contains(logs, want) {
			t.Errorf("the pod's resolution printed %q; want %q", logs, want)
		}
	}

	// The Service's ClusterIP works, through the node proxy: from the node
	// (the VIP is on this host) and from a pod, by name (which may start
	// before the web pods are ready, so it waits for a first answer).
	vip := netip.AddrPortFrom(netip.MustParseAddr(svc.Spec.ClusterIP), 80)
	testenv.Eventually(t, 10*time.Second, "the ClusterIP answers from the node", func() error {
		resp, err := hc.Get("http://" + vip.String() + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", vip, resp.Status)
		}
		return nil
	})
	testenv.Eventually(t, 30*time.Second, "the fetch pod succeeds", func() error {
		pod, err := cs.CoreV1().Pods("default").Get(ctx, "fetch", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.Status.Phase == corev1.PodFailed {
			out, _, _ := k.run(t, "logs", "fetch")
			t.Fatalf("the fetch pod failed:\n%s", out)
		}
		if pod.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s", pod.Status.Phase)
		}
		return nil
	})
	if logs, _ := k.ok(t, "logs", "fetch"); strings.Count(logs, "status 200") != 6 {
		t.Errorf("the pod's requests to http://web.default.svc.cluster.local/ printed %q; want 6 × status 200", logs)
	}

	// An HTTP port is balanced per request: 30 requests over one
	// keep-alive connection reach all three pods (kubernetes#38456).
	k.ok(t, "apply", "-f", k.write(t, "who.yaml", whoManifest))
	testenv.Eventually(t, 60*time.Second, "the keepalive pod finishes", func() error {
		pod, err := cs.CoreV1().Pods("default").Get(ctx, "keepalive", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.Status.Phase == corev1.PodFailed {
			out, _, _ := k.run(t, "logs", "keepalive")
			t.Fatalf("the keepalive pod failed:\n%s", out)
		}
		if pod.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s", pod.Status.Phase)
		}
		return nil
	})
	if logs, _ := k.ok(t, "logs", "keepalive"); !strings.Contains(logs, "pods 3") {
		t.Errorf("30 requests over one keep-alive connection: %q; want all 3 pods", logs)
	}

	// A clean stop stops the pods and removes their network.
	p.signal(t, syscall.SIGTERM)
	if code := p.exit(t, exitTimeout); code != 0 {
		t.Errorf("shoal up exited with %d", code)
	}
	// (No traffic to the pod IPs now: without the bridge their route is
	// the default one, off this machine.)
	if left := nodeLeftovers(dir); len(left) > 0 {
		t.Errorf("shoal up left %v after a clean stop", left)
	}
}

// agentSlot serializes tests that run an agent with the default bridge,
// netns dir, cgroup root and pod CIDR.
var agentSlot sync.Mutex

// nodeLeftovers lists what an agent with the defaults and the data dir
// <dataDir>/agent may leave on this machine: the bridge and links on it,
// its containerd and shims (their command lines name its directories),
// mounts and containerd state, pod cgroups, service VIPs on lo.
func nodeLeftovers(dataDir string) []string {
	var left []string
	if _, err := os.Stat("/sys/class/net/shoal0"); err == nil {
		left = append(left, "bridge shoal0")
		if out, _ := exec.Command("ip", "-o", "link", "show", "master", "shoal0").Output(); len(out) > 0 {
			left = append(left, "links on shoal0: "+string(out))
		}
	}
	left = append(left, serviceVIPs()...)
	for _, cg := range nodeagenttest.CgroupsUnder(cgroupRoot) {
		if !strings.HasSuffix(cg, "/"+cgroupRoot) { // the root itself may stay
			left = append(left, cg)
		}
	}
	for _, dir := range agentDirs(dataDir) {
		for _, pid := range nodeagenttest.ProcessesMentioning(dir) {
			left = append(left, fmt.Sprintf("process %d (containerd or a shim)", pid))
		}
		for _, m := range mountsBelow(dir) {
			left = append(left, "mount "+m)
		}
	}
	if _, err := os.Stat(agentDirs(dataDir)[1]); err == nil {
		left = append(left, "containerd state "+agentDirs(dataDir)[1])
	}
	return left
}

// agentDirs are the agent's containerd directory under the data dir and
// its state directory.
func agentDirs(dataDir string) []string {
	dir := filepath.Join(dataDir, "agent", "containerd")
	return []string{dir, containerd.DefaultStateDir(dir)}
}

func mountsBelow(dir string) []string {
	mounts, _ := mountinfo.Read()
	var out []string
	for _, m := range mounts {
		if strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
	}
	return out
}

// serviceVIPs are the addresses of the default service range on lo, where
// shoal up puts the cluster DNS address and its node proxy the VIPs.
func serviceVIPs() []string { return vipsIn("10.96.0.0/16") }

// cgroupRoot is the agent's default cgroup root.
const cgroupRoot = "shoal"

// cleanNode removes what a killed agent with the defaults and the data dir
// <dataDir>/agent left: its containerd and shims, its containers (every
// process in its cgroups), cgroups, mounts, links, the bridge and the
// cluster DNS address on lo.
func cleanNode(t *testing.T, dataDir string) {
	for _, dir := range agentDirs(dataDir) {
		for _, pid := range nodeagenttest.ProcessesMentioning(dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	nodeagenttest.RemoveCgroups(cgroupRoot)
	for _, dir := range agentDirs(dataDir) {
		for _, m := range mountsBelow(dir) {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	os.RemoveAll(agentDirs(dataDir)[1])
	if out, err := exec.Command("ip", "-o", "link", "show", "master", "shoal0").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 {
				exec.Command("ip", "link", "del", strings.Split(strings.TrimSuffix(f[1], ":"), "@")[0]).Run()
			}
		}
	}
	exec.Command("ip", "link", "del", "shoal0").Run()
	for _, a := range serviceVIPs() { // the DNS address and the node proxy's VIPs
		exec.Command("ip", "addr", "del", a, "dev", "lo").Run()
	}
	if left := nodeLeftovers(dataDir); len(left) > 0 {
		t.Logf("could not remove %v", left)
	}
}

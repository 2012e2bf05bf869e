package nodeagent_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/nodeagent/network/networktest"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// testCgroupRoot is this test process's cgroup root; each agent gets a child.
var testCgroupRoot = fmt.Sprintf("shoal-agent-test-%d", os.Getpid())

// requireAgent skips a test that needs root, CAP_NET_ADMIN, namespaces and
// cgroups where they are missing (fails where SHOAL_TEST_REQUIRE lists root).
func requireAgent(t *testing.T) {
	t.Helper()
	testenv.RequireOK(t, testenv.Root, nodeagent.Preflight(""))
}

// testEnv is a Shoal control plane and one node agent (with a containerd
// of its own), all in this process, and a registry with the test images.
type testEnv struct {
	t      *testing.T
	reg    *imagetest.Registry
	echo   string // the echoserver image (test/images/echoserver)
	box    string // the busybox image
	shoal  *clustertest.Shoal
	cs     *kubernetes.Clientset // admin
	node   string
	token  string // the node's
	cfg    nodeagent.Config
	agent  *nodeagent.Agent
	cancel context.CancelFunc
	runErr chan error
}

type envOption func(*testEnv)

// newTestEnv starts a registry with the test images, Shoal and an agent on
// its own bridge, pod CIDR, netns dir, cgroup root and data dir (so its own
// containerd). At cleanup it stops the agent and removes every kernel
// object such an agent can make, even if the test failed.
func newTestEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	requireAgent(t)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	shoalDir := t.TempDir()
	node := "node-" + randHex(4)
	// The API server reads its tokens when it starts: mint the node's first.
	tokens, err := auth.LoadOrCreateTokens(filepath.Join(shoalDir, "tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := tokens.Add(auth.NodeUser(node), []string{auth.GroupNodes})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &testEnv{t: t, node: node, token: token, reg: reg,
		echo: reg.Push(t, imagetest.EchoServer(t), "echoserver:1"), box: reg.Push(t, imagetest.Busybox(t), "busybox:1")}
	e.cfg = nodeagent.Config{
		NodeName:       node,
		NodeIP:         netip.MustParseAddr("127.0.0.1"),
		PodCIDR:        freePodCIDR(t),
		DataDir:        filepath.Join(dir, "agent"),
		Bridge:         networktest.Name("shoalt"),
		LogAddr:        "127.0.0.1:0",
		NetnsDir:       filepath.Join(dir, "netns"),
		CgroupRoot:     testCgroupRoot + "/" + randHex(4),
		HostResolvConf: writeFile(t, filepath.Join(dir, "resolv.conf"), "nameserver 192.0.2.53\n"),
		NoPeerRoutes:   true,
		Logger:         testLogger(t),
	}
	t.Cleanup(func() { cleanupKernel(t, e.cfg) })
	e.shoal = clustertest.Start(t, clustertest.Options{DataDir: shoalDir})
	e.cs = e.shoal.Clientset(t)
	admin := e.shoal.RESTConfig(t)
	e.cfg.REST = &rest.Config{Host: admin.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: admin.CAFile, CAData: admin.CAData}}
	for _, o := range opts {
		o(e)
	}
	e.start()
	t.Cleanup(func() {
		e.stop()
		if !e.cfg.KeepPodsOnStop {
			if l := leaks(e.cfg); len(l) > 0 {
				t.Errorf("the stopped agent left %v", l)
			}
		}
	})
	return e
}

// start runs a new agent with e.cfg and waits until it is ready.
func (e *testEnv) start() {
	t := e.t
	t.Helper()
	a, err := nodeagent.New(e.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.agent, e.cancel, e.runErr = a, cancel, make(chan error, 1)
	go func() { e.runErr <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-e.runErr:
		cancel()
		e.cancel = nil
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("agent not ready after 30s")
	}
}

// stop stops the agent (and with it its pods, unless KeepPodsOnStop).
func (e *testEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.runErr:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		e.t.Error("agent did not stop within 60s")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// serverContainer is a container running the echoserver image with env
// (NAME=value pairs: LINES, TICK, TERM_DELAY, LISTEN).
func (e *testEnv) serverContainer(name string, env ...string) corev1.Container {
	c := corev1.Container{
		Name:  name,
		Image: e.echo,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
	}
	return c
}

// pod is a pod bound to the env's node running containers.
func (e *testEnv) pod(name string, containers ...corev1.Container) *corev1.Pod {
	grace := int64(5)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"test": name}},
		Spec: corev1.PodSpec{
			NodeName:                      e.node,
			Containers:                    containers,
			TerminationGracePeriodSeconds: &grace,
		},
	}
}

func (e *testEnv) create(p *corev1.Pod) *corev1.Pod {
	e.t.Helper()
	out, err := e.cs.CoreV1().Pods(p.Namespace).Create(e.t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return out
}

func (e *testEnv) get(name string) *corev1.Pod {
	e.t.Helper()
	p, err := e.cs.CoreV1().Pods("default").Get(e.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// waitPod waits until cond holds for the pod name.
func (e *testEnv) waitPod(name string, timeout time.Duration, what string, cond func(*corev1.Pod) error) *corev1.Pod {
	e.t.Helper()
	var last *corev1.Pod
	testenv.Eventually(e.t, timeout, name+": "+what, func() error {
		p, err := e.cs.CoreV1().Pods("default").Get(e.t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		last = p
		return cond(p)
	})
	return last
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// runningReady holds for a Running pod that is Ready.
func runningReady(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning || !podReady(p) {
		return fmt.Errorf("phase %s, ready %v, containers %s", p.Status.Phase, podReady(p), describeContainers(p))
	}
	return nil
}

func describeContainers(p *corev1.Pod) string {
	var b strings.Builder
	for _, cs := range p.Status.ContainerStatuses {
		fmt.Fprintf(&b, "[%s restarts=%d ready=%v state=%s last=%s]", cs.Name, cs.RestartCount, cs.Ready, stateString(cs.State), stateString(cs.LastTerminationState))
	}
	return b.String()
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return "waiting(" + s.Waiting.Reason + ": " + s.Waiting.Message + ")"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%d %s: %s)", s.Terminated.ExitCode, s.Terminated.Reason, s.Terminated.Message)
	}
	return "none"
}

// httpGet fetches url with a short timeout.
func httpGet(url string, header ...string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// podHTTP gets path from the test server of pod p.
func podHTTP(p *corev1.Pod, path string) (string, error) {
	code, body, err := httpGet("http://" + p.Status.PodIP + ":8080" + path)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET %s from %s: %d %s", path, p.Name, code, body)
	}
	return body, err
}

// mainPid is the node PID of the main process of the pod's running
// container, or 0.
func (e *testEnv) mainPid(uid types.UID, container string) int {
	return nodeagent.ContainerPid(e.agent, uid, container)
}

// exec runs cmd in the pod's running container through the runtime.
func (e *testEnv) exec(p *corev1.Pod, container string, cmd ...string) (string, int) {
	e.t.Helper()
	id := nodeagent.ContainerID(e.agent, p.UID, container)
	if id == "" {
		e.t.Fatalf("pod %s has no running container %s", p.Name, container)
	}
	out, code, err := nodeagent.ExecSync(e.agent, id, cmd...)
	if err != nil {
		e.t.Fatalf("exec %v in %s/%s: %v", cmd, p.Name, container, err)
	}
	return out, code
}

// logs fetches a container's log through the API server (pods/log, which
// it proxies to the agent's node server); query starts with "?" or is
// empty.
func (e *testEnv) logs(pod, container, query string) (string, error) {
	code, body, err := e.apiGet(e.logURL(pod, container, query))
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("%d %s", code, body)
	}
	return body, err
}

// logURL is the API server's pods/log URL of a container.
func (e *testEnv) logURL(pod, container, query string) string {
	sep := "?"
	if query != "" {
		sep = "&"
	}
	return e.cfg.REST.Host + "/api/v1/namespaces/default/pods/" + pod + "/log" + query + sep + "container=" + container
}

// apiClient is an HTTP client of the API server as the admin.
func (e *testEnv) apiClient() *http.Client {
	c, err := rest.HTTPClientFor(e.shoal.RESTConfig(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// apiGet gets url from the API server as the admin.
func (e *testEnv) apiGet(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := e.apiClient().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// agentGet gets path from the agent's node server over HTTPS, trusting
// the cluster CA, with no client certificate.
func (e *testEnv) agentGet(path string) (int, string, error) {
	admin := e.shoal.RESTConfig(e.t)
	c, err := rest.HTTPClientFor(&rest.Config{Host: "https://" + e.agent.LogAddr().String(),
		TLSClientConfig: rest.TLSClientConfig{CAFile: admin.CAFile, CAData: admin.CAData}})
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+e.agent.LogAddr().String()+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

// followLines reads the first n lines of a streamed (followed) log.
func followLines(ctx context.Context, client *http.Client, url string, n int) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	var out []string
	for len(out) < n && sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}

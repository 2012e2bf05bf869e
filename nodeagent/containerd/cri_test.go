package containerd_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/containerd/containerdtest"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// testSubnet picks a /24 for one test's bridge out of 10.251.0.0/16.
func testSubnet() string { return fmt.Sprintf("10.251.%d.0/24", rand.IntN(256)) }

// pull pulls ref through CRI and returns the image ID.
func pull(t *testing.T, rt *containerdtest.Runtime, ref string) string {
	t.Helper()
	id, err := rt.Images.PullImage(t.Context(), &runtimeapi.ImageSpec{Image: ref}, nil, nil)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return id
}

// startContainer creates and starts a container in a sandbox.
func startContainer(t *testing.T, rt *containerdtest.Runtime, podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	t.Helper()
	id, err := rt.Runtime.Runtime.CreateContainer(t.Context(), podID, cfg, pod)
	if err != nil {
		t.Fatalf("create container %s: %v", cfg.Metadata.Name, err)
	}
	if err := rt.Runtime.Runtime.StartContainer(t.Context(), id); err != nil {
		t.Fatalf("start container %s: %v", cfg.Metadata.Name, err)
	}
	return id
}

// httpGet polls url until it answers 200 (the server starts
// asynchronously) and returns the body.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var body string
	testenv.Eventually(t, 15*time.Second, "GET "+url, func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		body = string(b)
		return nil
	})
	return body
}

func execSync(t *testing.T, rt *containerdtest.Runtime, id string, cmd ...string) string {
	t.Helper()
	out, stderr, err := rt.Runtime.Runtime.ExecSync(t.Context(), id, cmd, 10*time.Second)
	if err != nil {
		t.Fatalf("exec %v: %v (stderr %q)", cmd, err, stderr)
	}
	return string(out)
}

// TestPodsThroughCRI runs the whole path end to end: images pulled from a
// local registry, a host-network pod serving with busybox httpd, a
// bridge-network pod serving the Go test server, exec, stats, and a clean
// stop (the cleanup checks that no process, mount, veth, bridge, netns or
// cgroup is left).
func TestPodsThroughCRI(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Containerd)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	busyboxRef := reg.Push(t, imagetest.Busybox(t), "busybox:1")
	echoRef := reg.Push(t, imagetest.EchoServer(t), "echoserver:1")
	rt := containerdtest.Start(t, containerdtest.Options{CNISubnet: testSubnet()})
	ctx := t.Context()
	busybox := pull(t, rt, busyboxRef)
	echo := pull(t, rt, echoRef)

	// A host-network pod: busybox httpd on a free port of the host.
	hostPod := rt.PodSandboxConfig("hostnet", true)
	hostPodID, err := rt.Runtime.Runtime.RunPodSandbox(ctx, hostPod, "")
	if err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	httpd := containerdtest.ContainerConfig("httpd", busybox, []string{"sh", "-c"},
		[]string{fmt.Sprintf("echo hello from busybox > /tmp/index.html && exec httpd -f -p 127.0.0.1:%d -h /tmp", port)})
	httpdID := startContainer(t, rt, hostPodID, hostPod, httpd)
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", port)); got != "hello from busybox\n" {
		t.Errorf("httpd answered %q", got)
	}
	if got := execSync(t, rt, httpdID, "id", "-u"); got != "0\n" {
		t.Errorf("id -u = %q, want 0", got)
	}
	// The stream server was given port 0: the URLs must name the real one.
	ex, err := rt.Runtime.Runtime.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: httpdID, Cmd: []string{"true"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := url.Parse(ex.Url); err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Port() == "0" {
		t.Errorf("exec URL %q, want http://127.0.0.1:<port>/…", ex.Url)
	}

	// A pod on the bridge network: the Go server, reached at its pod IP,
	// and a busybox container beside it running as uid 1000.
	pod := rt.PodSandboxConfig("bridged", false)
	podID, err := rt.Runtime.Runtime.RunPodSandbox(ctx, pod, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.Runtime.Runtime.PodSandboxStatus(ctx, podID, false)
	if err != nil {
		t.Fatal(err)
	}
	ip := st.GetStatus().GetNetwork().GetIp()
	if net.ParseIP(ip) == nil {
		t.Fatalf("sandbox IP %q", ip)
	}
	startContainer(t, rt, podID, pod, containerdtest.ContainerConfig("echo", echo, nil, nil))
	if got := httpGet(t, "http://"+ip+":8080/"); got != "bridged\n" {
		t.Errorf("echo server answered %q, want the pod's hostname", got)
	}
	sideCfg := containerdtest.ContainerConfig("side", busybox, []string{"sleep", "3600"}, nil)
	sideCfg.Linux.SecurityContext.RunAsUser = &runtimeapi.Int64Value{Value: 1000}
	side := startContainer(t, rt, podID, pod, sideCfg)
	if got := execSync(t, rt, side, "id", "-u"); got != "1000\n" {
		t.Errorf("id -u = %q, want 1000", got)
	}
	// Containers of a pod share its network: localhost reaches the server.
	if got := execSync(t, rt, side, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/healthz"); got != "ok\n" {
		t.Errorf("wget localhost:8080 from the side container = %q", got)
	}

	stats, err := rt.Runtime.Runtime.ListContainerStats(ctx, &runtimeapi.ContainerStatsFilter{PodSandboxId: podID})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 {
		t.Errorf("ListContainerStats: %d containers, want 2", len(stats))
	}
	for _, s := range stats {
		if s.GetMemory().GetWorkingSetBytes().GetValue() == 0 {
			t.Errorf("container %s: no memory working set in stats %v", s.GetAttributes().GetMetadata().GetName(), s)
		}
	}
	podStats, err := rt.Runtime.Runtime.ListPodSandboxStats(ctx, &runtimeapi.PodSandboxStatsFilter{Id: podID})
	if err != nil {
		t.Fatal(err)
	}
	if len(podStats) != 1 || podStats[0].GetLinux().GetCpu() == nil {
		t.Errorf("ListPodSandboxStats = %v, want one pod with CPU", podStats)
	}
	if _, err := rt.Runtime.Runtime.ListPodSandboxMetrics(ctx); !containerd.Unsupported(err) {
		t.Errorf("ListPodSandboxMetrics: %v, want Unimplemented from containerd 1.6", err)
	}

	// Stop and remove in the kubelet's order; the cleanup then checks
	// nothing is left.
	for _, id := range []string{podID, hostPodID} {
		if err := rt.Runtime.Runtime.StopPodSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := rt.Runtime.Runtime.RemovePodSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if left, err := rt.Runtime.Runtime.ListContainers(ctx, nil); err != nil || len(left) != 0 {
		t.Errorf("containers after removing their sandboxes: %v (%v)", left, err)
	}
}

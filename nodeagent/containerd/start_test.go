package containerd_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/containerd/containerdtest"
	"github.com/shoalmesh/shoal/nodeagent/ociimage"
)

func TestStartRunsHostNetworkSandbox(t *testing.T) {
	rt := containerdtest.Start(t, containerdtest.Options{})
	ctx := t.Context()
	v, err := rt.Runtime.Runtime.Version(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if v.RuntimeName != "containerd" || v.RuntimeApiVersion != "v1" {
		t.Errorf("Version = %v, want containerd with CRI v1", v)
	}
	if _, err := rt.Runtime.Runtime.RuntimeConfig(ctx); !containerd.Unsupported(err) {
		t.Errorf("RuntimeConfig: err = %v, want Unimplemented from containerd 1.6", err)
	}
	cfg := rt.PodSandboxConfig("host", true)
	id, err := rt.Runtime.Runtime.RunPodSandbox(ctx, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.Runtime.Runtime.PodSandboxStatus(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Errorf("sandbox state = %v, want ready", st.Status.State)
	}
	// The sandbox runs the built-in pause program as 65535.
	verbose, err := rt.Runtime.Runtime.PodSandboxStatus(ctx, id, true)
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ Pid int }
	if err := json.Unmarshal([]byte(verbose.Info["info"]), &info); err != nil || info.Pid == 0 {
		t.Fatalf("sandbox info %q: %v", verbose.Info["info"], err)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", info.Pid))
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", info.Pid))
	if string(cmdline) != "/pause\x00" || !strings.Contains(string(status), "Uid:\t65535\t") {
		t.Errorf("sandbox process %d: cmdline %q, status %s; want /pause as 65535", info.Pid, cmdline, status)
	}

	// An image-less container: the empty image with the host's system
	// directories bind-mounted read-only runs the node's own programs.
	empty, err := ociimage.Empty("")
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.EnsureBuilt(ctx, empty); err != nil {
		t.Fatal(err)
	}
	c := containerdtest.ContainerConfig("hostbin", empty.Ref, []string{"/bin/sleep", "3600"}, nil)
	for _, d := range []string{"/usr", "/bin", "/lib", "/lib64", "/sbin"} {
		c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: d, HostPath: d, Readonly: true})
	}
	cid, err := rt.Runtime.Runtime.CreateContainer(ctx, id, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Runtime.Runtime.StartContainer(ctx, cid); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := rt.Runtime.Runtime.ExecSync(ctx, cid, []string{"python3", "-c", "print(6*7)"}, 10*time.Second)
	if err != nil || string(out) != "42\n" {
		t.Errorf("python3 in the empty image: %q, %q, %v; want 42", out, stderr, err)
	}
}

// A containerd that dies is restarted with the same configuration: the
// CRI clients reconnect, and the container that ran under its shim runs
// on and answers exec.
func TestRestartAfterCrash(t *testing.T) {
	rt := containerdtest.Start(t, containerdtest.Options{})
	ctx := t.Context()
	empty, err := ociimage.Empty("")
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.EnsureBuilt(ctx, empty); err != nil {
		t.Fatal(err)
	}
	cfg := rt.PodSandboxConfig("survivor", true)
	sb, err := rt.Runtime.Runtime.RunPodSandbox(ctx, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	c := containerdtest.ContainerConfig("c", empty.Ref, []string{"/bin/sleep", "3600"}, nil)
	c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/bin", HostPath: "/bin", Readonly: true}, {ContainerPath: "/usr", HostPath: "/usr", Readonly: true},
		{ContainerPath: "/lib", HostPath: "/lib", Readonly: true}, {ContainerPath: "/lib64", HostPath: "/lib64", Readonly: true}}
	id, err := rt.Runtime.Runtime.CreateContainer(ctx, sb, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Runtime.Runtime.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	pid := rt.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rt.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("Exited not closed after containerd was killed")
	}
	if err := rt.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if rt.Pid() == pid || rt.Pid() == 0 {
		t.Errorf("pid after restart %d (was %d)", rt.Pid(), pid)
	}
	st, err := rt.Runtime.Runtime.ContainerStatus(ctx, id, false)
	if err != nil || st.GetStatus().GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("container after the restart: %v, %v", st, err)
	}
	if out, _, err := rt.Runtime.Runtime.ExecSync(ctx, id, []string{"/bin/echo", "still here"}, 10*time.Second); err != nil || string(out) != "still here\n" {
		t.Errorf("exec after the restart: %q, %v", out, err)
	}
	if err := rt.Restart(ctx); err == nil {
		t.Error("Restart of a running containerd succeeded")
	}
}

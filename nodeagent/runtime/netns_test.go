package runtime

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// newNamedNetns creates /run/netns/<name>, removed at cleanup.
func newNamedNetns(t *testing.T, name string) string {
	t.Helper()
	t.Cleanup(func() { netns.DeleteNamed(name) })
	path, err := netns.NewNamed(name)
	if errors.Is(err, netns.ErrNotRestored) {
		t.Fatal(err)
	}
	if err != nil {
		testenv.RequireOK(t, testenv.Root, fmt.Errorf("create a network namespace: %w", err))
	}
	return path
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

func TestNetworkNamespace(t *testing.T) {
	e := newTestRuntime(t)
	nsPath := newNamedNetns(t, fmt.Sprintf("shoal-rt-test-%d", os.Getpid()))
	podNet := fmt.Sprintf("net:[%d]", inode(t, nsPath))
	hostNet := fmt.Sprintf("net:[%d]", inode(t, "/proc/self/ns/net"))
	const show = "readlink /proc/self/ns/net; echo ready; sleep 1000"

	// The pod's first container joins the netns by its path.
	first := e.spec(t, "first", "sh", "-c", show)
	first.NetNS = nsPath
	c := e.start(t, first)
	e.waitLog(t, first, "ready")
	if out := e.logs(t, first, LogOptions{}); out != podNet+"\nready\n" {
		t.Errorf("netns seen inside: %q, want %s", out, podNet)
	}
	// The init is in it too (its main thread, what /proc/<pid>/ns/net
	// shows), so nsenter and a /proc path reach the pod's network.
	initNet := fmt.Sprintf("net:[%d]", inode(t, "/proc/"+strconv.Itoa(c.Pid())+"/ns/net"))
	if initNet != podNet {
		t.Errorf("the init's netns is %s, want %s", initNet, podNet)
	}

	// Its copy of the node's mounts holds no namespace files: the pod's
	// netns is not kept alive by another pod's container after deletion.
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid()) + "/mountinfo"); err != nil || strings.Contains(string(b), " - nsfs ") {
		t.Errorf("nsfs mounts in the container (%v):\n%s", err, b)
	}

	// A second container joins by /proc/<pid>/ns/net.
	second := e.spec(t, "second", "sh", "-c", show)
	second.NetNS = "/proc/" + strconv.Itoa(c.Pid()) + "/ns/net"
	e.start(t, second)
	e.waitLog(t, second, "ready")
	if out := e.logs(t, second, LogOptions{}); out != podNet+"\nready\n" {
		t.Errorf("netns seen inside: %q, want %s", out, podNet)
	}

	// hostNetwork.
	host := e.spec(t, "host", "readlink", "/proc/self/ns/net")
	wait(t, e.start(t, host))
	if out := e.logs(t, host, LogOptions{}); out != hostNet+"\n" {
		t.Errorf("host network container sees %q, want %s", out, hostNet)
	}
	// The netns held by the containers' mounts is released when they stop.
	for _, name := range []string{"first", "second"} {
		if cc := e.rt.running(e.podUID, name); cc != nil {
			if _, err := cc.Stop(t.Context(), time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
}

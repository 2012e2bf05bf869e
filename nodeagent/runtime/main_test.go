package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/internal/testenv"
)

func TestMain(m *testing.M) {
	Init() // the container inits of these tests are this test binary
	if v := os.Getenv(helperEnv); v != "" {
		if err := helperAgent(v); err != nil {
			fmt.Fprintln(os.Stderr, "helper agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if _, ok := os.LookupEnv("GORACE"); !ok {
		// A race build sleeps a second at exit; the inits need not.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	code := m.Run()
	removeTestCgroupRoot()
	os.Exit(code)
}

// testCgroupRoot is this test process's cgroup root; each test gets a child.
var testCgroupRoot = fmt.Sprintf("shoal-test-%d", os.Getpid())

var (
	probeOnce sync.Once
	probeErr  error
)

// requireContainers skips a test that needs root, namespaces and cgroups
// where they are missing (fails where SHOAL_TEST_REQUIRE lists root).
func requireContainers(t *testing.T) {
	t.Helper()
	testenv.Require(t, testenv.Root)
	probeOnce.Do(func() {
		if _, err := detectCgroups(); err != nil {
			probeErr = fmt.Errorf("no cgroups: %v", err)
			return
		}
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET}
		if err := cmd.Run(); err != nil {
			probeErr = fmt.Errorf("namespaces unavailable: %v", err)
		}
	})
	testenv.RequireOK(t, testenv.Root, probeErr)
}

func removeTestCgroupRoot() {
	if os.Geteuid() != 0 {
		return
	}
	cg, err := detectCgroups()
	if err != nil {
		return
	}
	removeTree(cg, testCgroupRoot)
}

func removeTree(cg cgroups, p string) {
	kids, _ := cg.children(p)
	for _, k := range kids {
		removeTree(cg, p+"/"+k)
	}
	cg.remove(p)
}

type testEnv struct {
	rt     *Runtime
	opts   Options
	cg     cgroups
	root   string // this test's cgroup root
	podUID string
}

// newTestRuntime makes a Runtime with state and logs in a temp dir and its
// own cgroup root. At cleanup it kills what still runs and checks that no
// cgroup, state record or process is left, even when the test failed.
func newTestRuntime(t *testing.T, mod ...func(*Options)) *testEnv {
	t.Helper()
	requireContainers(t)
	cg, err := detectCgroups()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := Options{
		StateDir:   filepath.Join(dir, "state"),
		LogDir:     filepath.Join(dir, "logs"),
		CgroupRoot: testCgroupRoot + "/" + sanitize(t.Name()),
	}
	for _, f := range mod {
		f(&opts)
	}
	return newTestEnv(t, opts, cg)
}

func newTestEnv(t *testing.T, opts Options, cg cgroups) *testEnv {
	t.Helper()
	rt, err := newRuntime(opts, cg)
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{rt: rt, opts: rt.opts, cg: cg, root: rt.opts.CgroupRoot, podUID: randomUID()}
	t.Cleanup(func() { env.shutdown(t) })
	return env
}

// shutdown kills the Runtime's containers, closes it and checks for leaks.
func (e *testEnv) shutdown(t *testing.T) {
	t.Helper()
	rt := e.rt
	if !rt.isClosed() {
		rt.mu.Lock()
		var cs []*Container
		for _, c := range rt.containers {
			if c != nil {
				cs = append(cs, c)
			}
		}
		rt.mu.Unlock()
		for _, c := range cs {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := c.Stop(ctx, 0); err != nil {
				t.Errorf("stop %s at cleanup: %v", c.spec.Name, err)
			}
			cancel()
		}
		rt.Close()
	}
	// Whatever a failed test left, remove it, and fail if it had to.
	if kids, _ := e.cg.children(e.root); len(kids) > 0 {
		t.Errorf("cgroups left under %s: %v", e.root, kids)
	}
	removeTree(e.cg, e.root)
	if pids := initsOf(e.podUID); len(pids) > 0 {
		t.Errorf("container inits left running: %v", pids)
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// initsOf lists the PIDs of container inits of pods with uid.
func initsOf(uid string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := bytes.Split(b, []byte{0})
		if len(args) > 1 && string(args[0]) == initArg0 && bytes.Contains(b, []byte(uid)) {
			if state, _, err := procStat(pid); err == nil && state != 'Z' {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func randomUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// sanitize turns a test name into a DNS label.
func sanitize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 50 {
		s = strings.Trim(s[:50], "-")
	}
	return s
}

// spec is a container of this test's pod running cmd.
func (e *testEnv) spec(t *testing.T, name string, cmd ...string) Spec {
	return Spec{
		Pod:     PodRef{Namespace: "default", Name: sanitize(t.Name()), UID: e.podUID},
		Name:    name,
		Command: cmd,
	}
}

func (e *testEnv) start(t *testing.T, spec Spec) *Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := e.rt.Start(ctx, spec)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return c
}

func wait(t *testing.T, c *Container) ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, err := c.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return st
}

// logs returns what Logs writes for a container of spec's pod.
func (e *testEnv) logs(t *testing.T, spec Spec, opts LogOptions) string {
	t.Helper()
	var b bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := e.rt.Logs(ctx, spec.Pod, spec.Name, opts, &b); err != nil {
		t.Fatalf("logs: %v", err)
	}
	return b.String()
}

// waitLog polls the container's log until it contains want.
func (e *testEnv) waitLog(t *testing.T, spec Spec, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var b bytes.Buffer
		err := e.rt.Logs(t.Context(), spec.Pod, spec.Name, LogOptions{}, &b)
		if err == nil && strings.Contains(b.String(), want) {
			return
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatalf("logs: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q; it has:\n%s", want, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

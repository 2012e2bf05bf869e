package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// restart simulates an agent restart: the Runtime is closed with its
// containers running and a new one opens the same state directory.
func (e *testEnv) restart(t *testing.T) *testEnv {
	t.Helper()
	e.rt.Close()
	e2 := newTestEnv(t, e.opts, e.cg)
	e2.podUID = e.podUID
	return e2
}

func TestAdoptAfterRestart(t *testing.T) {
	e := newTestRuntime(t)
	spec := e.spec(t, "main", "sh", "-c", `trap 'echo stopping; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	spec.CPUMillis, spec.MemoryBytes = 500, 64<<20
	c1 := e.start(t, spec)
	e.waitLog(t, spec, "ready")

	e2 := e.restart(t)
	if _, err := c1.Wait(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("wait on a closed runtime's container: %v", err)
	}
	cs, err := e2.rt.Adopt(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("adopted %d containers, want 1", len(cs))
	}
	c2 := cs[0]
	if !c2.Adopted() || c2.Pid() != c1.Pid() || c2.Spec().Name != "main" || c2.Spec().MemoryBytes != 64<<20 {
		t.Errorf("adopted %+v (pid %d), started pid %d", c2.Spec(), c2.Pid(), c1.Pid())
	}
	if _, err := c2.Stats(); err != nil {
		t.Errorf("stats of an adopted container: %v", err)
	}
	// Adopting again finds nothing new.
	if again, err := e2.rt.Adopt(t.Context()); err != nil || len(again) != 0 {
		t.Errorf("second adopt: %d, %v", len(again), err)
	}

	followed := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		err := e2.rt.Logs(t.Context(), spec.Pod, spec.Name, LogOptions{Follow: true}, &b)
		if err != nil {
			b.WriteString("error: " + err.Error())
		}
		followed <- b.String()
	}()
	st, err := c2.Stop(t.Context(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 0 || st.Signal != 0 || st.Unknown {
		t.Errorf("status %+v, want 0 from the TERM trap", st)
	}
	select {
	case out := <-followed:
		if out != "ready\nstopping\n" {
			t.Errorf("followed log %q", out)
		}
	case <-time.After(10 * time.Second):
		t.Error("following the log did not end with the container")
	}
	if _, err := os.Stat(e2.rt.stateDir(spec.Pod.UID, spec.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state left: %v", err)
	}
}

func TestAdoptExitedWhileDown(t *testing.T) {
	e := newTestRuntime(t)
	flag := filepath.Join(t.TempDir(), "flag")
	spec := e.spec(t, "main", "sh", "-c", `while [ ! -e `+flag+` ]; do sleep 0.02; done; echo bye; exit 5`)
	c1 := e.start(t, spec)
	pid := c1.pid
	_, start, err := procStat(pid) // as the state record has it
	if err != nil {
		t.Fatal(err)
	}
	e2 := e.restart(t)
	os.WriteFile(flag, nil, 0o644)
	for deadline := time.Now().Add(10 * time.Second); alive(pid, start); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("container did not exit")
		}
	}
	cs, err := e2.rt.Adopt(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("adopted %d, want the exited one", len(cs))
	}
	st := wait(t, cs[0])
	if st.Code != 5 || st.Reason() != "Error" || st.Unknown {
		t.Errorf("status %+v", st)
	}
	if kids, _ := e2.cg.children(e2.root); len(kids) > 0 {
		t.Errorf("cgroups left: %v", kids)
	}
	if out := e2.logs(t, spec, LogOptions{}); out != "bye\n" {
		t.Errorf("log %q", out)
	}
}

func TestAdoptCleansStaleState(t *testing.T) {
	e := newTestRuntime(t)
	// A record whose process is gone without an exit record, and a state
	// directory without a record (an agent crashed mid-start).
	spec := e.spec(t, "gone", "true")
	dead := exec.Command("true")
	dead.Run()
	dir := e.rt.stateDir(spec.Pod.UID, "gone")
	os.MkdirAll(dir, 0o700)
	writeRecord(dir, &record{Spec: spec, Pid: dead.Process.Pid, PidStart: 1, Cgroup: e.rt.cgroupPath(spec.Pod.UID, "gone")})
	os.MkdirAll(e.rt.stateDir(spec.Pod.UID, "half"), 0o700)
	// A cgroup with a process in it that no record accounts for.
	orphan := e.rt.cgroupPath(spec.Pod.UID, "orphan")
	if err := e.cg.create(orphan, limits{}); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	if err := e.cg.add(orphan, sleeper.Process.Pid); err != nil {
		t.Fatal(err)
	}

	cs, err := e.rt.Adopt(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Spec().Name != "gone" {
		t.Fatalf("adopted %d containers, want the stale one", len(cs))
	}
	if st := wait(t, cs[0]); !st.Unknown || st.Reason() != "ContainerStatusUnknown" {
		t.Errorf("status %+v", st)
	}
	if err := sleeper.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("orphan process: %v, want killed", err)
	}
	if kids, _ := e.cg.children(e.root); len(kids) > 0 {
		t.Errorf("cgroups left: %v", kids)
	}
	if entries, _ := os.ReadDir(e.opts.StateDir); len(entries) != 1 {
		t.Errorf("state left: %v", entries)
	}
}

func TestStateDirIsLocked(t *testing.T) {
	e := newTestRuntime(t)
	if _, err := newRuntime(e.opts, e.cg); !errors.Is(err, ErrStateDirLocked) {
		t.Fatalf("second runtime on the state dir: %v", err)
	}
	e.restart(t) // fine once the first is closed
}

func TestStartRefusesUnadoptedContainer(t *testing.T) {
	e := newTestRuntime(t)
	spec := e.spec(t, "main", "sleep", "1000")
	e.start(t, spec)
	e2 := e.restart(t)
	if _, err := e2.rt.Start(t.Context(), spec); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("start before adopt: %v, want ErrAlreadyRunning", err)
	}
	cs, err := e2.rt.Adopt(t.Context())
	if err != nil || len(cs) != 1 {
		t.Fatalf("adopt: %d, %v", len(cs), err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := cs[0].Stop(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Signal != syscall.SIGKILL && st.Signal != syscall.SIGTERM {
		t.Errorf("status %+v", st)
	}
}

// helperEnv carries a helper agent's options and spec, as JSON.
const helperEnv = "SHOAL_RUNTIME_TEST_AGENT"

type helperJob struct {
	Opts Options
	Spec Spec
}

// helperAgent is an agent in its own process (TestMain runs it when
// helperEnv is set): it starts a container and exits without stopping it,
// as a crashed or restarted agent does.
func helperAgent(v string) error {
	var job helperJob
	if err := json.Unmarshal([]byte(v), &job); err != nil {
		return err
	}
	cg, err := detectCgroups()
	if err != nil {
		return err
	}
	rt, err := newRuntime(job.Opts, cg)
	if err != nil {
		return err
	}
	c, err := rt.Start(context.Background(), job.Spec)
	if err != nil {
		return err
	}
	fmt.Println("pid", c.Pid())
	return nil // no Stop, no Close: the agent dies
}

func TestAdoptAfterAgentExits(t *testing.T) {
	requireContainers(t)
	// Orphans come to this process, as to an agent's supervisor, instead of
	// to the machine's init; it reaps them at cleanup.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become a subreaper: %v", err)
	}
	dir := t.TempDir()
	opts := Options{
		StateDir:   filepath.Join(dir, "state"),
		LogDir:     filepath.Join(dir, "logs"),
		CgroupRoot: testCgroupRoot + "/" + sanitize(t.Name()),
	}
	uid := randomUID()
	spec := Spec{
		Pod:     PodRef{Namespace: "default", Name: "agent-exits", UID: uid},
		Name:    "main",
		Command: []string{"sh", "-c", `trap 'echo stopping; exit 0' TERM; echo ready; while :; do sleep 0.05; done`},
	}
	job, _ := json.Marshal(helperJob{Opts: opts, Spec: spec})
	agent := exec.CommandContext(t.Context(), os.Args[0])
	agent.Env = append(os.Environ(), helperEnv+"="+string(job))
	out, err := agent.CombinedOutput()
	if err != nil {
		t.Fatalf("agent: %v\n%s", err, out)
	}
	var pid int
	if _, err := fmt.Sscanf(string(out), "pid %d", &pid); err != nil {
		t.Fatalf("agent output %q", out)
	}
	t.Cleanup(func() { syscall.Wait4(pid, nil, 0, nil) }) // the orphaned init, now our child

	cg, _ := detectCgroups()
	e := newTestEnv(t, opts, cg)
	e.podUID = uid
	cs, err := e.rt.Adopt(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Pid() != pid || !cs[0].Adopted() {
		t.Fatalf("adopted %d containers, want the agent's (pid %d)", len(cs), pid)
	}
	e.waitLog(t, spec, "ready")
	st, err := cs[0].Stop(t.Context(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 0 || st.Unknown {
		t.Errorf("status %+v, want 0 from the TERM trap", st)
	}
	if out := e.logs(t, spec, LogOptions{}); out != "ready\nstopping\n" {
		t.Errorf("log %q", out)
	}
}

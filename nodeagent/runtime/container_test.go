package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestContainerRuns(t *testing.T) {
	e := newTestRuntime(t)
	workDir := t.TempDir()
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"), 0o644)
	hosts := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n10.244.0.5 web-0.web.default.svc.cluster.local web-0\n"), 0o644)
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	mountsBefore := countMounts(t)

	tests := []struct {
		name     string
		spec     func(*Spec)
		code     int
		signal   syscall.Signal
		reason   string
		wantLogs []string
	}{{
		name:     "hostname is the pod name",
		spec:     func(s *Spec) { s.Command = []string{"uname", "-n"} },
		reason:   "Completed",
		wantLogs: []string{"container-runs\n"}, // sanitize(t.Name()) of the parent test
	}, {
		name:     "hostname from the spec",
		spec:     func(s *Spec) { s.Command = []string{"uname", "-n"}; s.Hostname = "web-0" },
		reason:   "Completed",
		wantLogs: []string{"web-0\n"},
	}, {
		name: "PID 1 is the init and only the namespace's processes are visible",
		spec: func(s *Spec) {
			s.Command = []string{"sh", "-c", `echo ppid=$PPID; tr '\0' ' ' </proc/1/cmdline; echo; test -e /proc/` + strconv.Itoa(os.Getpid()) + ` && echo agent visible || echo agent hidden`}
		},
		reason:   "Completed",
		wantLogs: []string{"ppid=1\n", "shoal-init default/container-runs/", "agent hidden\n"},
	}, {
		name: "command and args, env and workingDir",
		spec: func(s *Spec) {
			s.Command = []string{"sh", "-c"}
			s.Args = []string{`echo "$0 $1 FOO=$FOO pwd=$(pwd) HOSTNAME=$HOSTNAME HOME=$HOME"; echo "PATH=$PATH"`, "a", "b"}
			s.Env = []string{"FOO=bar baz"}
			s.WorkingDir = workDir
		},
		reason:   "Completed",
		wantLogs: []string{"a b FOO=bar baz pwd=" + workDir + " HOSTNAME=container-runs HOME=/root\n", "PATH=" + os.Getenv("PATH") + "\n"},
	}, {
		name: "pod's resolv.conf and hosts are bind-mounted",
		spec: func(s *Spec) {
			s.Command = []string{"sh", "-c", "cat /etc/resolv.conf /etc/hosts"}
			s.Mounts = []Mount{{Source: resolv, Target: "/etc/resolv.conf", ReadOnly: true}, {Source: hosts, Target: "/etc/hosts"}}
		},
		reason:   "Completed",
		wantLogs: []string{"nameserver 10.96.0.10\nsearch default.svc.cluster.local", "10.244.0.5 web-0.web"},
	}, {
		name: "a read-only bind mount cannot be written",
		spec: func(s *Spec) {
			s.Command = []string{"sh", "-c", "if echo x >> /etc/resolv.conf; then exit 0; else exit 9; fi"}
			s.Mounts = []Mount{{Source: resolv, Target: "/etc/resolv.conf", ReadOnly: true}}
		},
		code:     9,
		reason:   "Error",
		wantLogs: []string{"Read-only file system"},
	}, {
		name:     "stdout and stderr",
		spec:     func(s *Spec) { s.Command = []string{"sh", "-c", "echo to-out; echo to-err >&2"} },
		reason:   "Completed",
		wantLogs: []string{"to-out\n", "to-err\n"},
	}, {
		name:     "exit code",
		spec:     func(s *Spec) { s.Command = []string{"sh", "-c", "echo failing; exit 7"} },
		code:     7,
		reason:   "Error",
		wantLogs: []string{"failing\n"},
	}, {
		name:   "killed by a signal",
		spec:   func(s *Spec) { s.Command = []string{"sh", "-c", "kill -9 $$"} },
		code:   137,
		signal: syscall.SIGKILL,
		reason: "Error",
	}, {
		name:     "background processes end with the main one",
		spec:     func(s *Spec) { s.Command = []string{"sh", "-c", "sleep 1000 & sleep 1000 & echo bye"} },
		reason:   "Completed",
		wantLogs: []string{"bye\n"},
	}, {
		name:     "a last line without a newline",
		spec:     func(s *Spec) { s.Command = []string{"printf", "one\\ntwo"} },
		reason:   "Completed",
		wantLogs: []string{"one\ntwo"},
	}}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := e.spec(t, "c"+string(rune('a'+i)))
			spec.Pod.Name = "container-runs"
			tc.spec(&spec)
			c := e.start(t, spec)
			st := wait(t, c)
			if st.Code != tc.code || st.Signal != tc.signal || st.Reason() != tc.reason || st.OOMKilled {
				t.Errorf("exit status %+v (reason %s), want code %d signal %v reason %s", st, st.Reason(), tc.code, tc.signal, tc.reason)
			}
			if st.FinishedAt.Before(st.StartedAt) {
				t.Errorf("finished %v before started %v", st.FinishedAt, st.StartedAt)
			}
			out := e.logs(t, spec, LogOptions{})
			for _, want := range tc.wantLogs {
				if !strings.Contains(out, want) {
					t.Errorf("log does not contain %q:\n%s", want, out)
				}
			}
			if _, err := os.Stat(e.rt.stateDir(spec.Pod.UID, spec.Name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state dir left after exit: %v", err)
			}
			if kids, _ := e.cg.children(e.root + "/" + spec.Pod.UID); len(kids) > 0 {
				t.Errorf("cgroups left after exit: %v", kids)
			}
		})
	}
	if b, _ := os.ReadFile("/etc/resolv.conf"); string(b) != string(hostResolv) {
		t.Errorf("the node's /etc/resolv.conf changed: %q", b)
	}
	if n := countMounts(t); n != mountsBefore {
		t.Errorf("node mounts changed: %d lines, %d before", n, mountsBefore)
	}
}

// countMounts counts the node's mounts, leaving out network namespace
// (nsfs) mounts: tests of other packages running at the same time create
// and remove those.
func countMounts(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.Contains(line, " - nsfs ") {
			n++
		}
	}
	return n
}

func TestLogRecordsStreams(t *testing.T) {
	e := newTestRuntime(t)
	spec := e.spec(t, "main", "sh", "-c", "echo to-out; echo to-err >&2")
	wait(t, e.start(t, spec))
	b, err := os.ReadFile(filepath.Join(e.rt.logDir(spec.Pod, spec.Name), currentLog))
	if err != nil {
		t.Fatal(err)
	}
	var streams []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		rec := parseRecord([]byte(line))
		if rec.time.IsZero() {
			t.Errorf("not a CRI record: %q", line)
		}
		streams = append(streams, rec.stream+":"+string(rec.content))
	}
	got := strings.Join(streams, ",")
	if got != "stdout:to-out,stderr:to-err" && got != "stderr:to-err,stdout:to-out" {
		t.Errorf("records %s", got)
	}
}

func TestStartErrors(t *testing.T) {
	e := newTestRuntime(t)
	notExecutable := filepath.Join(t.TempDir(), "data")
	os.WriteFile(notExecutable, []byte("data"), 0o644)
	notAProgram := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(notAProgram, []byte("\x01\x02garbage"), 0o755)
	tests := []struct {
		name    string
		spec    func(*Spec)
		is      error
		message string
	}{
		{"command not on PATH", func(s *Spec) { s.Command = []string{"no-such-command-xyz"} }, ErrCommandNotFound, "executable file not found in $PATH"},
		{"command path missing", func(s *Spec) { s.Command = []string{"/no/such/binary"} }, nil, "no such file"},
		{"no command", func(s *Spec) { s.Command = nil }, ErrInvalidSpec, "no command"},
		{"bad container name", func(s *Spec) { s.Name = "../x" }, ErrInvalidSpec, "container name"},
		{"working directory missing", func(s *Spec) { s.WorkingDir = "/no/such/dir" }, nil, "working directory"},
		{"netns missing", func(s *Spec) { s.NetNS = "/run/netns/no-such-netns-xyz" }, nil, "network namespace"},
		{"mount target missing", func(s *Spec) {
			s.Mounts = []Mount{{Source: "/etc/hostname", Target: "/no/such/target"}}
		}, nil, "bind mount"},
		{"not executable", func(s *Spec) { s.Command = []string{notExecutable} }, nil, "permission denied"},
		{"not a program", func(s *Spec) { s.Command = []string{notAProgram} }, nil, "exec format error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := e.spec(t, "main", "true")
			tc.spec(&spec)
			c, err := e.rt.Start(t.Context(), spec)
			if err == nil {
				wait(t, c)
				t.Fatal("started")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
			if kids, _ := e.cg.children(e.root); len(kids) > 0 {
				t.Errorf("cgroups left after a failed start: %v", kids)
			}
			if entries, _ := os.ReadDir(e.opts.StateDir); len(entries) > 1 { // .lock
				t.Errorf("state left after a failed start: %v", entries)
			}
		})
	}
}

func TestStartTwice(t *testing.T) {
	e := newTestRuntime(t)
	spec := e.spec(t, "main", "sleep", "1000")
	e.start(t, spec)
	if _, err := e.rt.Start(t.Context(), spec); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second start: %v, want ErrAlreadyRunning", err)
	}
}

func TestStopUnhandledTERMEndsTheCommand(t *testing.T) {
	// The command is not PID 1 (the init is), so SIGTERM's default action
	// applies, as under Docker with tini or containerd's pause-less runtime.
	e := newTestRuntime(t)
	c := e.start(t, e.spec(t, "main", "sleep", "1000"))
	st, err := c.Stop(t.Context(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.Signal != syscall.SIGTERM || st.Code != 143 {
		t.Errorf("status %+v, want SIGTERM 143", st)
	}
}

func TestStopGraceful(t *testing.T) {
	e := newTestRuntime(t)
	spec := e.spec(t, "main", "sh", "-c", `trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done`)
	c := e.start(t, spec)
	e.waitLog(t, spec, "ready")
	st, err := c.Stop(t.Context(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 3 || st.Signal != 0 {
		t.Errorf("status %+v, want code 3 from the TERM trap", st)
	}
	if out := e.logs(t, spec, LogOptions{}); !strings.Contains(out, "got TERM") {
		t.Errorf("log %q", out)
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	e := newTestRuntime(t)
	spec := e.spec(t, "main", "sh", "-c", `trap '' TERM; sleep 1000 & sleep 1000 & echo ready; wait`)
	c := e.start(t, spec)
	e.waitLog(t, spec, "ready")
	pids, err := e.cg.procs(c.cgroup)
	if err != nil || len(pids) < 4 { // init, sh, 2 × sleep
		t.Fatalf("processes in the cgroup: %v, %v", pids, err)
	}
	var starts []uint64
	for _, p := range pids {
		_, s, _ := procStat(p)
		starts = append(starts, s)
	}
	st, err := c.Stop(t.Context(), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if st.Signal != syscall.SIGKILL || st.Code != 137 || st.OOMKilled {
		t.Errorf("status %+v, want SIGKILL 137", st)
	}
	for i, p := range pids {
		if alive(p, starts[i]) {
			t.Errorf("process %d survived the PID namespace's end", p)
		}
	}
	if err := c.Signal(syscall.SIGTERM); !errors.Is(err, ErrNotRunning) {
		t.Errorf("signal after exit: %v", err)
	}
}

func TestSignalIsForwarded(t *testing.T) {
	e := newTestRuntime(t)
	spec := e.spec(t, "main", "sh", "-c", `trap 'echo got USR1' USR1; echo ready; while :; do sleep 0.05; done`)
	c := e.start(t, spec)
	e.waitLog(t, spec, "ready")
	if err := c.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	e.waitLog(t, spec, "got USR1")
}

func TestNoDescriptorLeaks(t *testing.T) {
	e := newTestRuntime(t)
	before := countFDs(t)
	for range 3 {
		spec := e.spec(t, "main", "sh", "-c", "ls -l /proc/self/fd/ | grep -c -- '->'")
		wait(t, e.start(t, spec))
		// The command has stdin, stdout and stderr only, plus ls's own
		// directory handle: nothing of the agent or the init.
		if out := e.logs(t, spec, LogOptions{}); out != "4\n" {
			t.Errorf("descriptors in the container: %q, want 4", out)
		}
	}
	if after := countFDs(t); after != before {
		t.Errorf("descriptors of the agent: %d, %d before", after, before)
	}
}

func countFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestWaitHonoursContext(t *testing.T) {
	e := newTestRuntime(t)
	c := e.start(t, e.spec(t, "main", "sleep", "1000"))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait: %v", err)
	}
}

package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newTestLogWriter writes container.log in a temp dir; now advances a
// second per record from t0.
func newTestLogWriter(t *testing.T, dir string, maxBytes int64, maxFiles int) *logWriter {
	t.Helper()
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(dirfd) })
	w, err := openLogWriter(dirfd, maxBytes, maxFiles)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.close() })
	now := t0
	w.now = func() time.Time { now = now.Add(time.Second); return now }
	return w
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func TestLogWriterRotates(t *testing.T) {
	dir := t.TempDir()
	w := newTestLogWriter(t, dir, 1000, 3)
	for i := range 100 {
		if err := w.record("stdout", false, fmt.Appendf(nil, "line %03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	files, err := logFiles(dir, currentLog)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || filepath.Base(files[0]) != currentLog+".2" || filepath.Base(files[2]) != currentLog {
		t.Fatalf("files %v, want container.log.2, .1 and container.log", files)
	}
	var lines []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 1000 {
			t.Errorf("%s has %d bytes, over the 1000 limit", f, len(b))
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			lines = append(lines, string(parseRecord([]byte(l)).content))
		}
	}
	// What is kept is the newest lines, contiguous, oldest first.
	for i, l := range lines {
		if want := fmt.Sprintf("line %03d", 100-len(lines)+i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
}

func TestCopyStreamSplitsLongLines(t *testing.T) {
	dir := t.TempDir()
	w := newTestLogWriter(t, dir, 1<<20, 2)
	long := strings.Repeat("x", maxLogLine+10)
	copyStream(w, "stderr", strings.NewReader("short\n"+long+"\nlast"))
	b, _ := os.ReadFile(filepath.Join(dir, currentLog))
	var tags []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		rec := parseRecord([]byte(l))
		tag := "F"
		if rec.partial {
			tag = "P"
		}
		tags = append(tags, fmt.Sprintf("%s%s%d", rec.stream, tag, len(rec.content)))
	}
	want := fmt.Sprintf("stderrF5,stderrP%d,stderrF10,stderrP4", maxLogLine)
	if got := strings.Join(tags, ","); got != want {
		t.Errorf("records %s, want %s", got, want)
	}
}

// logRuntime is a Runtime with only a log directory, enough for Logs.
func logRuntime(t *testing.T) (*Runtime, PodRef, string) {
	r := &Runtime{opts: Options{LogDir: t.TempDir()}, containers: map[ckey]*Container{}, closed: make(chan struct{})}
	pod := PodRef{Namespace: "default", Name: "web-0", UID: "u1"}
	dir := r.logDir(pod, "main")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return r, pod, dir
}

func ptr[T any](v T) *T { return &v }

func TestLogs(t *testing.T) {
	r, pod, dir := logRuntime(t)
	w := newTestLogWriter(t, dir, 1<<20, 2)
	for _, s := range []string{"one", "two", "three"} {
		w.record("stdout", false, []byte(s))
	}
	w.record("stderr", true, []byte("fo"))
	w.record("stderr", false, []byte("ur"))
	w.close()
	if err := shiftToPrevious(dir); err != nil {
		t.Fatal(err)
	}
	w = newTestLogWriter(t, dir, 1<<20, 2)
	w.record("stdout", false, []byte("after restart"))

	tests := []struct {
		name string
		opts LogOptions
		want string
	}{
		{"current", LogOptions{}, "after restart\n"},
		{"previous", LogOptions{Previous: true}, "one\ntwo\nthree\nfour\n"},
		{"tail", LogOptions{Previous: true, TailLines: ptr[int64](2)}, "three\nfour\n"},
		{"tail zero", LogOptions{Previous: true, TailLines: ptr[int64](0)}, ""},
		{"tail more than there is", LogOptions{Previous: true, TailLines: ptr[int64](10)}, "one\ntwo\nthree\nfour\n"},
		{"timestamps", LogOptions{Previous: true, Timestamps: true, TailLines: ptr[int64](1)},
			"2024-05-01T10:00:04Z four\n"},
		{"since", LogOptions{Previous: true, SinceTime: t0.Add(3 * time.Second)}, "three\nfour\n"},
		{"limit", LogOptions{Previous: true, LimitBytes: ptr[int64](6)}, "one\ntw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := r.Logs(t.Context(), pod, "main", tc.opts, &b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
	for _, tc := range []struct {
		container string
		opts      LogOptions
	}{{"other", LogOptions{}}, {"../x", LogOptions{}}} {
		if err := r.Logs(t.Context(), pod, tc.container, tc.opts, &bytes.Buffer{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("logs of %q: %v, want ErrNotFound", tc.container, err)
		}
	}
	// An instance that logged nothing keeps the previous log.
	w.close()
	os.WriteFile(filepath.Join(dir, currentLog), nil, 0o644)
	if err := shiftToPrevious(dir); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.Logs(t.Context(), pod, "main", LogOptions{Previous: true}, &b); err != nil || b.String() != "one\ntwo\nthree\nfour\n" {
		t.Errorf("previous log after an empty instance: %q, %v", b.String(), err)
	}
	os.Remove(filepath.Join(dir, previousLog))
	if err := r.Logs(t.Context(), pod, "main", LogOptions{Previous: true}, &bytes.Buffer{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("previous logs without a previous instance: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsFollowThroughRotations(t *testing.T) {
	r, pod, dir := logRuntime(t)
	w := newTestLogWriter(t, dir, 300, 5)
	w.record("stdout", false, []byte("before"))
	c := &Container{spec: Spec{Pod: pod, Name: "main"}, done: make(chan struct{})}
	r.containers[ckey{pod.UID, "main"}] = c

	var out syncBuffer
	followed := make(chan error, 1)
	go func() { followed <- r.Logs(t.Context(), pod, "main", LogOptions{Follow: true}, &out) }()
	want := "before\n"
	for i := range 200 {
		line := fmt.Sprintf("line %03d", i)
		w.record("stdout", false, []byte(line))
		want += line + "\n"
		if i%15 == 14 {
			// 15 records are two rotations: wait for the follower to have
			// them, so that it never falls behind the 4 rotated files kept.
			for deadline := time.Now().Add(10 * time.Second); !strings.HasSuffix(out.String(), line+"\n"); {
				if time.Now().After(deadline) {
					select {
					case err := <-followed:
						t.Fatalf("follower ended early (%v); it has:\n%s", err, out.String())
					default:
					}
					t.Fatalf("follower stuck; it has:\n%s", out.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	close(c.done)
	select {
	case err := <-followed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end when the container exited")
	}
	if out.String() != want {
		t.Errorf("followed:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestLogsFollowEndsWithContext(t *testing.T) {
	r, pod, dir := logRuntime(t)
	w := newTestLogWriter(t, dir, 1<<20, 2)
	w.record("stdout", false, []byte("x"))
	r.containers[ckey{pod.UID, "main"}] = &Container{done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(t.Context(), 3*followPoll)
	defer cancel()
	var b bytes.Buffer
	if err := r.Logs(ctx, pod, "main", LogOptions{Follow: true}, &b); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("follow: %v", err)
	}
	if b.String() != "x\n" {
		t.Errorf("followed %q", b.String())
	}
}

func TestParseRecordKeepsForeignLines(t *testing.T) {
	rec := parseRecord([]byte("not a record"))
	if string(rec.content) != "not a record" || rec.partial || rec.stream != "stdout" {
		t.Errorf("%+v", rec)
	}
}

func TestContainerLogRotationAndPrevious(t *testing.T) {
	e := newTestRuntime(t, func(o *Options) { o.LogMaxBytes, o.LogMaxFiles = 2000, 3 })
	spec := e.spec(t, "main", "sh", "-c", `i=0; while [ $i -lt 500 ]; do echo line-$i; i=$((i+1)); done`)
	wait(t, e.start(t, spec))
	dir := e.rt.logDir(spec.Pod, spec.Name)
	if files, _ := logFiles(dir, currentLog); len(files) != 3 {
		t.Errorf("log files %v, want 3", files)
	}
	lines := strings.Split(strings.TrimSuffix(e.logs(t, spec, LogOptions{}), "\n"), "\n")
	var first int
	fmt.Sscanf(lines[0], "line-%d", &first)
	for i, l := range lines {
		if want := fmt.Sprintf("line-%d", first+i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
	if first == 0 || lines[len(lines)-1] != "line-499" {
		t.Errorf("kept lines %s to %s; want the newest, not all", lines[0], lines[len(lines)-1])
	}
	if out := e.logs(t, spec, LogOptions{TailLines: ptr[int64](1)}); out != "line-499\n" {
		t.Errorf("tail 1: %q", out)
	}

	spec.Command = []string{"echo", "second run"}
	wait(t, e.start(t, spec))
	if out := e.logs(t, spec, LogOptions{}); out != "second run\n" {
		t.Errorf("log after restart %q", out)
	}
	if out := e.logs(t, spec, LogOptions{Previous: true, TailLines: ptr[int64](1)}); out != "line-499\n" {
		t.Errorf("previous log ends %q", out)
	}
	if err := e.rt.RemovePodLogs(spec.Pod); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod logs left: %v", err)
	}
}

func TestFollowContainerLog(t *testing.T) {
	e := newTestRuntime(t)
	spec := e.spec(t, "main", "sh", "-c", `for i in 1 2 3; do echo line$i; sleep 0.1; done`)
	e.start(t, spec)
	if out := e.logs(t, spec, LogOptions{Follow: true}); out != "line1\nline2\nline3\n" {
		t.Errorf("followed %q", out)
	}
}

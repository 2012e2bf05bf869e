package podlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// testWriter appends records to a log file as containerd does, one second
// apart from t0, and reopens the file when told (ReopenContainerLog).
type testWriter struct {
	mu   sync.Mutex
	path string
	f    *os.File
	now  time.Time
}

func newTestWriter(t *testing.T, path string) *testWriter {
	t.Helper()
	w := &testWriter{path: path, now: t0}
	if err := w.reopen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.f.Close() })
	return w
}

func (w *testWriter) reopen() error {
	if w.f != nil {
		w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	w.f = f
	return err
}

func (w *testWriter) record(stream string, partial bool, s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(time.Second)
	w.f.Write(AppendRecord(nil, w.now, stream, partial, []byte(s)))
}

func ptr[T any](v T) *T { return &v }

func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path)
	for _, s := range []string{"one", "two", "three"} {
		w.record("stdout", false, s)
	}
	w.record("stderr", true, "fo")
	w.record("stderr", false, "ur")
	for _, tc := range []struct {
		name string
		opts LogOptions
		want string
	}{
		{"all", LogOptions{}, "one\ntwo\nthree\nfour\n"},
		{"tail", LogOptions{TailLines: ptr[int64](2)}, "three\nfour\n"},
		{"tail zero", LogOptions{TailLines: ptr[int64](0)}, ""},
		{"tail more than there is", LogOptions{TailLines: ptr[int64](10)}, "one\ntwo\nthree\nfour\n"},
		{"timestamps", LogOptions{Timestamps: true, TailLines: ptr[int64](1)}, "2024-05-01T10:00:04Z four\n"},
		{"since", LogOptions{SinceTime: t0.Add(3 * time.Second)}, "three\nfour\n"},
		{"limit", LogOptions{LimitBytes: ptr[int64](6)}, "one\ntw"},
		{"follow an exited instance", LogOptions{Follow: true}, "one\ntwo\nthree\nfour\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Read(t.Context(), path, tc.opts, &b, func() bool { return false }); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
	if err := Read(t.Context(), filepath.Join(filepath.Dir(path), "1.log"), LogOptions{}, &bytes.Buffer{}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("a log that does not exist: %v, want ErrNotFound", err)
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

// A follower reads every line through rotations (Rotate, then the writer
// reopens the path) and ends, having drained the file, when the instance
// stops running.
func TestReadFollowsThroughRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path)
	w.record("stdout", false, "before")
	var running atomic.Bool
	running.Store(true)
	var out syncBuffer
	followed := make(chan error, 1)
	go func() { followed <- Read(t.Context(), path, LogOptions{Follow: true}, &out, running.Load) }()
	want := "before\n"
	for i := range 200 {
		line := fmt.Sprintf("line %03d", i)
		w.record("stdout", false, line)
		want += line + "\n"
		if i%7 == 6 {
			if err := Rotate(path, 5); err != nil {
				t.Fatal(err)
			}
			w.record("stdout", false, "late "+line) // written to the renamed file before the reopen
			want += "late " + line + "\n"
			w.reopen()
		}
		if i%15 == 14 {
			// Wait for the follower, so that it never falls behind the
			// rotated files kept.
			testWait(t, followed, &out, line)
		}
	}
	running.Store(false)
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
	if files, _ := Files(path); len(files) != 5 {
		t.Errorf("files after rotations: %v, want 5", files)
	}
}

func testWait(t *testing.T, followed chan error, out *syncBuffer, line string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), line+"\n"); {
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

func TestReadFollowEndsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	newTestWriter(t, path).record("stdout", false, "x")
	ctx, cancel := context.WithTimeout(t.Context(), 3*followPoll)
	defer cancel()
	var b bytes.Buffer
	if err := Read(ctx, path, LogOptions{Follow: true}, &b, func() bool { return true }); !errors.Is(err, context.DeadlineExceeded) {
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

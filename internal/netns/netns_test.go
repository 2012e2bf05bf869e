package netns_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/network/networktest"
)

// current opens the calling thread's namespace, closed when the test ends.
func current(t *testing.T) netns.Handle {
	t.Helper()
	ns, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// threadNS opens the namespace of thread tid of this process; ok is false
// once the thread has exited.
func threadNS(t *testing.T, tid int) (ns netns.Handle, ok bool) {
	t.Helper()
	ns, err := netns.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", tid))
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return netns.None(), false
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns, true
}

// TestDoRestoresThread runs functions that return, fail, panic and exit
// their goroutine inside a new namespace: each runs there, and the thread
// it ran on is back in the process's namespace afterwards.
func TestDoRestoresThread(t *testing.T) {
	testenv.Require(t, testenv.Root)
	host := current(t)
	errFn := errors.New("fn failed")
	tests := []struct {
		name string
		body func() error
		want func(t *testing.T, err error, panicVal any)
	}{{
		name: "returns",
		body: func() error { return nil },
		want: func(t *testing.T, err error, p any) {
			if err != nil || p != nil {
				t.Errorf("error %v, panic %v; want neither", err, p)
			}
		},
	}, {
		name: "fails",
		body: func() error { return errFn },
		want: func(t *testing.T, err error, p any) {
			if !errors.Is(err, errFn) || p != nil {
				t.Errorf("error %v, panic %v; want %v", err, p, errFn)
			}
		},
	}, {
		name: "panics",
		body: func() error { panic("boom") },
		want: func(t *testing.T, err error, p any) {
			if p != "boom" {
				t.Errorf("error %v, panic %v; want the panic boom in the caller", err, p)
			}
		},
	}, {
		name: "calls Goexit",
		body: func() error { runtime.Goexit(); return nil },
		want: func(t *testing.T, err error, p any) {
			if err == nil || !strings.Contains(err.Error(), "Goexit") || p != nil {
				t.Errorf("error %v, panic %v; want an error naming Goexit", err, p)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := networktest.NewNamespace(t)
			var tid int
			var inside bool
			p, err := func() (p any, err error) {
				defer func() { p = recover() }()
				return nil, netns.Do(target, func() error {
					tid = unix.Gettid()
					cur, err := netns.Current()
					if err != nil {
						return err
					}
					inside = cur.Equal(target)
					cur.Close()
					return tc.body()
				})
			}()
			tc.want(t, err, p)
			if !inside {
				t.Error("fn did not run in the target namespace")
			}
			// Go never ends an unlocked thread: it went back to the pool.
			if ns, ok := threadNS(t, tid); !ok {
				t.Errorf("thread %d ended; want it back in the pool", tid)
			} else if !ns.Equal(host) {
				t.Errorf("thread %d left in %s, want the process's %s", tid, ns.UniqueId(), host.UniqueId())
			}
			if now := current(t); !now.Equal(host) {
				t.Errorf("caller now in %s, want %s", now.UniqueId(), host.UniqueId())
			}
		})
	}
}

// TestDoEnterFails: a namespace that cannot be entered is an error, and fn
// does not run.
func TestDoEnterFails(t *testing.T) {
	testenv.Require(t, testenv.Root)
	closed := networktest.NewNamespace(t)
	closed.Close()
	for name, ns := range map[string]netns.Handle{"none": netns.None(), "closed": closed} {
		ran := false
		err := netns.Do(ns, func() error { ran = true; return nil })
		if err == nil || !strings.Contains(err.Error(), "enter netns") || ran {
			t.Errorf("%s: error %v, fn ran %v; want an enter error and no run", name, err, ran)
		}
	}
	err := netns.DoPath(filepath.Join(t.TempDir(), "missing"), func() error { return nil })
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("DoPath of a missing file: %v; want ENOENT naming the path", err)
	}
}

// TestRestoreFailureEndsThread: when the thread cannot go back (fn dropped
// its CAP_SYS_ADMIN, which setns needs), Do says so and the thread is
// never reused: the runtime ends it (or, for the main thread, parks it for
// good).
func TestRestoreFailureEndsThread(t *testing.T) {
	testenv.Require(t, testenv.Root)
	target := networktest.NewNamespace(t)
	errFn := errors.New("fn failed")
	var tid int
	err := netns.Do(target, func() error {
		tid = unix.Gettid()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: this thread
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_ADMIN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return err
		}
		return errFn
	})
	if !errors.Is(err, errFn) || !errors.Is(err, netns.ErrNotRestored) || !errors.Is(err, unix.EPERM) {
		t.Fatalf("error %v; want fn's error joined with a failed restore (EPERM)", err)
	}
	if tid == os.Getpid() {
		return // the main thread is parked, not ended
	}
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("thread %d, left in the wrong namespace without CAP_SYS_ADMIN, to end", tid), func() bool {
		_, ok := threadNS(t, tid)
		return !ok
	})
}

// TestPinned creates a pinned namespace in a temporary directory, runs code
// in it through its path, and deletes it.
func TestPinned(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	path := filepath.Join(dir, "ns")
	t.Cleanup(func() { netns.Delete(path) }) // before TempDir's removal
	if ok, err := netns.IsNamespace(path); ok || err != nil {
		t.Fatalf("IsNamespace of a missing path: %v, %v", ok, err)
	}
	if ok, err := netns.IsNamespace("/proc/self/ns/net"); !ok || err != nil {
		t.Fatalf("IsNamespace of /proc/self/ns/net: %v, %v", ok, err)
	}
	if err := netns.Create(path); err != nil {
		t.Fatal(err)
	}
	if ok, err := netns.IsNamespace(path); !ok || err != nil {
		t.Fatalf("IsNamespace after Create: %v, %v", ok, err)
	}
	if err := netns.Create(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create over a pinned namespace: %v, want ErrExist", err)
	}
	pinned, err := netns.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	host := current(t)
	if pinned.Equal(host) {
		t.Fatal("the pinned namespace is the process's")
	}
	var inside bool
	if err := netns.DoPath(path, func() error {
		cur, err := netns.Current()
		inside = err == nil && cur.Equal(pinned)
		cur.Close()
		return err
	}); err != nil || !inside {
		t.Errorf("DoPath: %v, ran inside %v", err, inside)
	}
	var outside bool
	netns.DoPath("", func() error {
		cur, err := netns.Current()
		outside = err == nil && cur.Equal(host)
		cur.Close()
		return nil
	})
	if !outside {
		t.Error(`DoPath("") did not run in the caller's namespace`)
	}

	if err := netns.Delete(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file after Delete: %v", err)
	}
	if err := netns.Delete(path); err != nil {
		t.Errorf("Delete of a missing path: %v", err)
	}
	// A file left behind (after a reboot, say) is not a namespace.
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if ok, err := netns.IsNamespace(path); ok || err != nil {
		t.Errorf("IsNamespace of a plain file: %v, %v", ok, err)
	}
	if err := netns.Delete(path); err != nil {
		t.Errorf("Delete of a plain file: %v", err)
	}
}

func TestNamed(t *testing.T) {
	testenv.Require(t, testenv.Root)
	name := fmt.Sprintf("shoal-netns-test-%d", os.Getpid())
	t.Cleanup(func() { netns.DeleteNamed(name) })
	path, err := netns.NewNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	if path != "/run/netns/"+name {
		t.Errorf("path %s", path)
	}
	if ok, err := netns.IsNamespace(path); !ok || err != nil {
		t.Errorf("IsNamespace: %v, %v", ok, err)
	}
	if err := netns.DeleteNamed(name); err != nil {
		t.Fatal(err)
	}
	if ok, _ := netns.IsNamespace(path); ok {
		t.Error("still pinned after DeleteNamed")
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../x"} {
		if _, err := netns.NewNamed(bad); err == nil {
			netns.DeleteNamed(bad)
			t.Errorf("NewNamed(%q) accepted", bad)
		}
	}
}

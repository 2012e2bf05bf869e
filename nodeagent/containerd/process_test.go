package containerd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/containerd/containerdtest"
)

// A containerd that dies at start is reported with its log's tail, at
// once rather than at the deadline.
func TestStartReportsEarlyExitWithLog(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake-containerd")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'level=fatal msg=\"boom: bad config\"' >&2\nexit 1\n"), 0o755)
	start := time.Now()
	_, err := containerd.Start(t.Context(), containerd.Config{
		Dir: filepath.Join(dir, "c"), StateDir: filepath.Join(dir, "s"), Binary: fake,
		SandboxImage: "shoal.invalid/pause:x", CNIBinDir: "/usr/lib/cni", CNIConfDir: dir,
		StartTimeout: time.Minute,
	})
	if err == nil || !strings.Contains(err.Error(), "containerd exited") || !strings.Contains(err.Error(), "boom: bad config") {
		t.Fatalf("Start = %v, want an exit error with the log's tail", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("Start waited %s for a containerd that had exited", time.Since(start))
	}
}

// Connect uses a running runtime and leaves it running on Close.
func TestConnectToExistingRuntime(t *testing.T) {
	rt := containerdtest.Start(t, containerdtest.Options{})
	other, err := containerd.Connect(t.Context(), rt.Address(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if other.Started() || other.LogPath() != "" {
		t.Errorf("Connect: Started %v, LogPath %q; want a runtime it did not start", other.Started(), other.LogPath())
	}
	if ok, err := other.HasImage(t.Context(), rt.Pause.Ref); err != nil || !ok {
		t.Errorf("connected runtime lacks %s (%v)", rt.Pause.Ref, err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Runtime.Runtime.Version(t.Context(), "v1"); err != nil {
		t.Errorf("containerd stopped when a connected client closed: %v", err)
	}
	if _, err := containerd.Connect(t.Context(), filepath.Join(t.TempDir(), "none.sock"), nil); err == nil {
		t.Error("Connect to a missing socket succeeded")
	}
}

package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/internal/mountinfo"
)

func TestPickCgroups(t *testing.T) {
	// Mount points that do not exist here: cgroup.controllers reads fail,
	// as on a v2 mount without controllers.
	tests := []struct {
		name      string
		mountinfo string
		version   int
		mounts    map[string]string
	}{{
		name: "hybrid: v1 controllers and an empty cgroup2",
		mountinfo: `32 31 0:29 / /x/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /x/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /x/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /x/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
		version: 1,
		mounts:  map[string]string{"cpu": "/x/cgroup/cpu,cpuacct", "cpuacct": "/x/cgroup/cpu,cpuacct", "memory": "/x/cgroup/memory"},
	}, {
		name:      "cgroup2 only",
		mountinfo: "31 23 0:28 / /x/cgroup rw shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
		version:   2,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mounts, err := mountinfo.Parse(strings.NewReader(tc.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			cg, err := pickCgroups(mounts)
			if err != nil {
				t.Fatal(err)
			}
			if cg.version() != tc.version {
				t.Fatalf("version %d, want %d", cg.version(), tc.version)
			}
			if v1, ok := cg.(*cgroupV1); ok {
				for k, v := range tc.mounts {
					if v1.mounts[k] != v {
						t.Errorf("%s at %q, want %q", k, v1.mounts[k], v)
					}
				}
			}
		})
	}
	if _, err := pickCgroups(nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("no cgroup mounts: %v", err)
	}
}

func TestCFSQuota(t *testing.T) {
	for millis, want := range map[int64]int64{100: 10000, 1000: 100000, 2500: 250000, 1: 1000} {
		if got := cfsQuota(millis); got != want {
			t.Errorf("cfsQuota(%d) = %d, want %d", millis, got, want)
		}
	}
}

// TestCgroupV2WithoutControllers runs a container under the cgroup2
// hierarchy of a hybrid machine (v1 controllers, an empty cgroup2 mount):
// it exercises the v2 code here; on a v2 machine every other test does.
func TestCgroupV2WithoutControllers(t *testing.T) {
	requireContainers(t)
	mounts, err := mountinfo.Read()
	if err != nil {
		t.Fatal(err)
	}
	if cg, _ := pickCgroups(mounts); cg.version() == 2 {
		t.Skip("a cgroup v2 machine: the other tests exercise v2")
	}
	var unified string
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			unified = m.Point
		}
	}
	if unified == "" {
		t.Skip("no cgroup2 mount on this v1 machine")
	}
	cg := &cgroupV2{mount: unified}
	t.Cleanup(func() { cg.removeIfEmpty(testCgroupRoot) }) // after the env's own cleanup
	dir := t.TempDir()
	e := newTestEnv(t, Options{
		StateDir:   filepath.Join(dir, "state"),
		LogDir:     filepath.Join(dir, "logs"),
		CgroupRoot: testCgroupRoot + "/" + sanitize(t.Name()),
	}, cg)

	spec := e.spec(t, "main", "sh", "-c", `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ready; sleep 1000`)
	c := e.start(t, spec)
	e.waitLog(t, spec, "ready")
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid()) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if want := "0::/" + c.cgroup + "\n"; !strings.Contains(string(b), want) {
		t.Errorf("/proc/<pid>/cgroup:\n%s\nwant %q", b, want)
	}
	if st, err := c.Stats(); err != nil || st.CPU <= 0 {
		t.Errorf("stats %+v, %v", st, err)
	}
	if _, err := c.Stop(t.Context(), 0); err != nil {
		t.Fatal(err)
	}

	limited := e.spec(t, "limited", "true")
	limited.MemoryBytes = 64 << 20
	if _, err := e.rt.Start(t.Context(), limited); !errors.Is(err, ErrUnsupported) {
		t.Errorf("memory limit without a memory controller: %v", err)
	}
}

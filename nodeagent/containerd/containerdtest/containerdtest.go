// Package containerdtest starts a real containerd for tests, with its own
// config, root, state and socket, and removes everything it made when the
// test ends: sandboxes, containers, shims, mounts, network namespaces,
// cgroups and the state directory. Tests that use it need root and
// Debian's containerd, runc and containernetworking-plugins
// (testenv.Root and testenv.Containerd).
package containerdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/cni"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/nodeagent/ociimage"
)

// CNIBinDir is where Debian installs the stock CNI plugins.
const CNIBinDir = "/usr/lib/cni"

// Options adjust the containerd a test starts.
type Options struct {
	// CNISubnet, like "10.250.7.0/24", gives pods a network: the stock
	// bridge and host-local plugins on a bridge named after the test's ID,
	// deleted at cleanup. Empty: host-network sandboxes only.
	CNISubnet string
	// Network, if set, gives pods Shoal's pod network instead: Start calls
	// cni.SetupNode with it, filling in BinDir and ConfDir (the test's),
	// and StateDir and Bridge (named after the test's ID) if empty, and
	// removes the node network at cleanup, checking that no veth was left
	// on its bridge. containerd runs the plugin from the test binary: its
	// TestMain must call cni.Main().
	Network *cni.NodeConfig
	// Registries as in containerd.Config.
	Registries containerd.Registries
	// Config, when set, may change the containerd.Config before start.
	Config func(*containerd.Config)
}

// Runtime is a containerd started for one test.
type Runtime struct {
	*containerd.Runtime
	// Dir is containerd's directory (config, root, log).
	Dir string
	// ID is short and random; it names the test's cgroup parent, bridge
	// and state directory.
	ID string
	// Pause is the built-in sandbox image, already imported.
	Pause *ociimage.Built
	// Network is the node network of Options.Network, nil without.
	Network *cni.NodeNetwork
	// NetworkConfig is the config Network was set up with.
	NetworkConfig cni.NodeConfig
}

// Start starts containerd for t and imports the pause image. Everything is
// removed in t.Cleanup, and what is left behind then fails the test.
func Start(t testing.TB, opts Options) *Runtime {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.Containerd)
	pause, err := ociimage.Pause("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &Runtime{Dir: filepath.Join(dir, "containerd"), ID: randomID(), Pause: pause}
	cniConf := filepath.Join(dir, "cni")
	if err := os.MkdirAll(cniConf, 0o755); err != nil {
		t.Fatal(err)
	}
	if opts.CNISubnet != "" {
		conf := bridgeConflist(r.ID, r.Bridge(), opts.CNISubnet, filepath.Join(dir, "ipam"))
		if err := os.WriteFile(filepath.Join(cniConf, "10-test.conflist"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	binDir := CNIBinDir
	if opts.Network != nil {
		binDir = filepath.Join(dir, "cni-bin")
		r.setupNetwork(t, *opts.Network, binDir, cniConf, filepath.Join(dir, "cni-state"))
	}
	cfg := containerd.Config{
		Dir:          r.Dir,
		StateDir:     "/run/shoal/t-" + r.ID,
		SandboxImage: pause.Ref,
		CNIBinDir:    binDir,
		CNIConfDir:   cniConf,
		Registries:   opts.Registries,
		StopTimeout:  5 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if opts.Config != nil {
		opts.Config(&cfg)
	}
	ctx := context.Background()
	rt, err := containerd.Start(ctx, cfg)
	if err != nil {
		os.RemoveAll(cfg.StateDir)
		t.Fatal(err)
	}
	r.Runtime = rt
	t.Cleanup(func() { r.cleanup(t, cfg.StateDir) })
	if err := rt.EnsureBuilt(ctx, pause); err != nil {
		t.Fatal(err)
	}
	return r
}

// setupNetwork sets up Shoal's node network for the test; its cleanup runs
// after containerd's (cleanups run last first), when every sandbox is gone.
func (r *Runtime) setupNetwork(t testing.TB, nc cni.NodeConfig, binDir, confDir, stateDir string) {
	t.Helper()
	nc.BinDir, nc.ConfDir = binDir, confDir
	if nc.StateDir == "" {
		nc.StateDir = stateDir
	}
	if nc.Bridge == "" {
		nc.Bridge = r.Bridge()
	}
	if nc.Logger == nil {
		nc.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	nn, err := cni.SetupNode(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	r.Network, r.NetworkConfig = nn, nc
	t.Cleanup(func() {
		if on := linksOnBridge(nc.NetNS, nc.Bridge); len(on) > 0 {
			t.Errorf("cleanup: %s still attached to bridge %s", strings.Join(on, ", "), nc.Bridge)
		}
		if err := nn.Close(context.Background(), true); err != nil {
			t.Errorf("cleanup: remove the node network: %v", err)
		}
	})
}

// linksOnBridge lists the interfaces attached to bridge in the namespace
// at nsPath ("" for the test's).
func linksOnBridge(nsPath, bridge string) []string {
	var out []string
	err := netns.DoPath(nsPath, func() error {
		br, err := netlink.LinkByName(bridge)
		if err != nil {
			return nil // no bridge, nothing on it
		}
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				out = append(out, l.Attrs().Name)
			}
		}
		return nil
	})
	if err != nil {
		return []string{err.Error()}
	}
	return out
}

// CgroupParent returns a cgroup parent for one sandbox of this test
// (cgroupfs style, under a per-test parent the cleanup removes).
func (r *Runtime) CgroupParent(name string) string {
	return "/shoal-test-" + r.ID + "/" + name
}

// testWriter sends slog output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func randomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// cleanup stops and removes every sandbox, stops containerd and checks
// that nothing of it is left.
func (r *Runtime) cleanup(t testing.TB, stateDir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var netnsPaths []string
	if pods, err := r.Runtime.Runtime.ListPodSandbox(ctx, nil); err != nil {
		t.Errorf("cleanup: list sandboxes: %v", err)
	} else {
		for _, p := range pods {
			if st, err := r.Runtime.Runtime.PodSandboxStatus(ctx, p.Id, true); err == nil {
				if ns := netnsPath(st.GetInfo()); ns != "" {
					netnsPaths = append(netnsPaths, ns)
				}
			}
			if err := r.Runtime.Runtime.StopPodSandbox(ctx, p.Id); err != nil {
				t.Errorf("cleanup: stop sandbox %s: %v", p.Id, err)
			}
			if err := r.Runtime.Runtime.RemovePodSandbox(ctx, p.Id); err != nil {
				t.Errorf("cleanup: remove sandbox %s: %v", p.Id, err)
			}
		}
	}
	socket := r.Address()
	if err := r.Close(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if err := containerd.RemoveCgroupTree("/shoal-test-" + r.ID); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	if r.Network == nil { // Shoal's network has a cleanup of its own
		if on := linksOnBridge("", r.Bridge()); len(on) > 0 {
			t.Errorf("cleanup: %s still attached to bridge %s", strings.Join(on, ", "), r.Bridge())
		}
		if br, err := netlink.LinkByName(r.Bridge()); err == nil {
			if err := netlink.LinkDel(br); err != nil {
				t.Errorf("cleanup: delete bridge %s: %v", r.Bridge(), err)
			}
		}
	}
	if procs := processesMentioning(socket); len(procs) > 0 {
		t.Errorf("cleanup: processes of this containerd left running: %s", strings.Join(procs, "; "))
	}
	if mounts := mountsUnder(r.Dir, stateDir); len(mounts) > 0 {
		t.Errorf("cleanup: mounts left under %s or %s: %s", r.Dir, stateDir, strings.Join(mounts, "; "))
	}
	for _, ns := range netnsPaths {
		if _, err := os.Stat(ns); err == nil {
			t.Errorf("cleanup: network namespace %s left behind", ns)
		}
	}
	if err := os.RemoveAll(stateDir); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// SandboxNetNS is the path of a sandbox's network namespace, from its
// verbose status; "" for a host-network sandbox.
func (r *Runtime) SandboxNetNS(ctx context.Context, id string) (string, error) {
	st, err := r.Runtime.Runtime.PodSandboxStatus(ctx, id, true)
	if err != nil {
		return "", err
	}
	return netnsPath(st.GetInfo()), nil
}

// netnsPath digs the sandbox's network namespace path out of containerd's
// verbose status info (runtimeSpec.linux.namespaces).
func netnsPath(info map[string]string) string {
	s := info["info"]
	i := strings.Index(s, `"type":"network","path":"`)
	if i < 0 {
		return ""
	}
	s = s[i+len(`"type":"network","path":"`):]
	return s[:strings.IndexByte(s, '"')]
}

// processesMentioning lists processes whose command line contains s (the
// shims name their containerd's socket in -address).
func processesMentioning(s string) []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	self := fmt.Sprintf("/proc/%d/", os.Getpid())
	for _, f := range dirs {
		if strings.HasPrefix(f, self) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, s) {
			out = append(out, filepath.Base(filepath.Dir(f))+": "+cmd)
		}
	}
	return out
}

// mountsUnder lists mount points below any of dirs.
func mountsUnder(dirs ...string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		for _, d := range dirs {
			if f[4] == d || strings.HasPrefix(f[4], d+"/") {
				out = append(out, f[4])
			}
		}
	}
	return out
}

// PodSandboxConfig returns a minimal sandbox config named name in this
// test's cgroup parent; hostNetwork picks the host's network namespace.
func (r *Runtime) PodSandboxConfig(name string, hostNetwork bool) *runtimeapi.PodSandboxConfig {
	mode := runtimeapi.NamespaceMode_POD
	hostname := name
	if hostNetwork {
		mode, hostname = runtimeapi.NamespaceMode_NODE, "" // a host-network sandbox must leave the hostname empty
	}
	logDir := filepath.Join(r.Dir, "pods", name)
	os.MkdirAll(logDir, 0o755) // the kubelet makes it; containerd writes container logs into it
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: "uid-" + r.ID + "-" + name},
		Hostname:     hostname,
		LogDirectory: logDir,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: r.CgroupParent(name),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: mode},
			},
		},
	}
}

// bridgeConflist is a stock bridge + host-local conflist.
func bridgeConflist(id, bridge, subnet, ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "shoal-test-%[1]s",
  "plugins": [
    {"type": "bridge", "bridge": "%[2]s", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "%[3]s"}]],
              "dataDir": "%[4]s", "routes": [{"dst": "0.0.0.0/0"}]}}
  ]
}`, id, bridge, subnet, ipamDir)
}

// Bridge is the name of this test's CNI bridge.
func (r *Runtime) Bridge() string { return "shtb" + r.ID }

// ContainerConfig returns a container config running image (an image ID
// or reference the runtime has) with command and args; its log goes to
// <name>.log in the sandbox's log directory.
func ContainerConfig(name, image string, command, args []string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: image},
		Command:  command,
		Args:     args,
		LogPath:  name + ".log",
		Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{}},
	}
}

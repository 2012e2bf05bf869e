package containerd

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config says how to run a containerd of our own.
type Config struct {
	// Dir holds config.toml, containerd's root (images, snapshots), the
	// registry hosts directory and containerd.log. Required; usually
	// <data-dir>/containerd.
	Dir string
	// StateDir holds the gRPC socket and containerd's state. Unix socket
	// paths are limited to 108 bytes, so it defaults to a short path,
	// /run/shoal/<hash of Dir>, rather than a place under Dir.
	StateDir string
	// Binary is the containerd executable; default "containerd" on $PATH.
	Binary string
	// SandboxImage is the image every sandbox runs (the built-in pause
	// image's Ref). Required: containerd's default cannot be pulled offline.
	SandboxImage string
	// CNIBinDir and CNIConfDir are where containerd finds CNI plugins and
	// the network configuration (it uses the first conflist there).
	CNIBinDir, CNIConfDir string
	// Registries become containerd's hosts.toml directory (config_path).
	Registries Registries
	// StreamPort is the port of the exec/attach/port-forward stream server
	// on 127.0.0.1; 0 lets the kernel choose one, so several containerds
	// on one machine never collide.
	StreamPort int
	// NetNS is the network namespace containerd runs in (a path such as
	// /run/netns/node-1), "" for the caller's: its shims, the CNI plugins it
	// calls (so the pod bridge) and the hostNetwork pods live there too.
	// This is how one machine plays several nodes.
	NetNS string
	// Snapshotter is containerd's snapshotter; default "overlayfs".
	Snapshotter string
	// StartTimeout bounds the wait for the CRI Version call to answer;
	// default 30 s. StopTimeout is the grace between SIGTERM and SIGKILL
	// on Close; default 10 s.
	StartTimeout, StopTimeout time.Duration
	// LogLevel is containerd's log level (debug, info, warn, error);
	// default info.
	LogLevel string
	// Logger receives start and stop messages; containerd's own log goes
	// to LogPath.
	Logger *slog.Logger
}

// defaults fills the zero fields and checks the required ones.
func (c Config) defaults() (Config, error) {
	if c.Dir == "" {
		return c, fmt.Errorf("containerd config: Dir is required")
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, fmt.Errorf("containerd config: Dir %q: %w", c.Dir, err)
	}
	c.Dir = dir
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir(dir)
	}
	if len(filepath.Join(c.StateDir, socketName+".ttrpc")) >= maxSocketPath {
		return c, fmt.Errorf("containerd config: StateDir %q is too long for a unix socket path (limit %d bytes)", c.StateDir, maxSocketPath-1)
	}
	if c.SandboxImage == "" {
		return c, fmt.Errorf("containerd config: SandboxImage is required (the built-in pause image)")
	}
	if c.CNIBinDir == "" || c.CNIConfDir == "" {
		return c, fmt.Errorf("containerd config: CNIBinDir and CNIConfDir are required")
	}
	if c.StreamPort < 0 || c.StreamPort > 65535 {
		return c, fmt.Errorf("containerd config: StreamPort %d is not a port", c.StreamPort)
	}
	if err := c.Registries.Validate(); err != nil {
		return c, fmt.Errorf("containerd config: %w", err)
	}
	if c.Binary == "" {
		c.Binary = "containerd"
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
	case "trace", "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("containerd config: LogLevel %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.Snapshotter == "" {
		c.Snapshotter = "overlayfs"
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// DefaultStateDir is the StateDir of a containerd whose Dir is dir (an
// absolute path): /run/shoal/<hash of dir>. Its socket is containerd.sock
// there, which its shims name on their command lines.
func DefaultStateDir(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join("/run/shoal", hex.EncodeToString(sum[:8]))
}

const (
	socketName    = "containerd.sock"
	maxSocketPath = 108 // sizeof(sockaddr_un.sun_path) on Linux
)

// Paths of the files a Config puts under Dir and StateDir.
func (c Config) configPath() string { return filepath.Join(c.Dir, "config.toml") }
func (c Config) rootDir() string    { return filepath.Join(c.Dir, "root") }
func (c Config) hostsDir() string   { return filepath.Join(c.Dir, "certs.d") }
func (c Config) logPath() string    { return filepath.Join(c.Dir, "containerd.log") }
func (c Config) socketPath() string { return filepath.Join(c.StateDir, socketName) }
func (c Config) stateDir() string   { return filepath.Join(c.StateDir, "state") }

// disabledPlugins are containerd 1.6 plugins Shoal never uses: other
// snapshotters (btrfs, zfs and devmapper probe the disk at start) and
// tracing. (The legacy v1 runtime must stay: containerd 1.6's tasks
// service, and so the CRI plugin, will not load without it.)
var disabledPlugins = []string{
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
}

// render returns containerd's version-2 config.toml for c (after defaults).
func (c Config) render() string {
	var b strings.Builder
	kv := func(indent, key string, v any) {
		var s string
		switch v := v.(type) {
		case string:
			s = tomlString(v)
		case bool:
			s = strconv.FormatBool(v)
		case int:
			s = strconv.Itoa(v)
		case []string:
			q := make([]string, len(v))
			for i, e := range v {
				q[i] = tomlString(e)
			}
			s = "[" + strings.Join(q, ", ") + "]"
		}
		fmt.Fprintf(&b, "%s%s = %s\n", indent, key, s)
	}
	b.WriteString("# Written by Shoal at every start; edits are overwritten.\n")
	kv("", "version", 2)
	kv("", "root", c.rootDir())
	kv("", "state", c.stateDir())
	kv("", "disabled_plugins", disabledPlugins)
	b.WriteString("\n[debug]\n")
	kv("  ", "level", c.LogLevel)
	b.WriteString("\n[grpc]\n")
	kv("  ", "address", c.socketPath())
	b.WriteString("\n[plugins.\"io.containerd.internal.v1.opt\"]\n")
	kv("  ", "path", filepath.Join(c.Dir, "opt"))
	b.WriteString("\n[plugins.\"io.containerd.grpc.v1.cri\"]\n")
	kv("  ", "sandbox_image", c.SandboxImage)
	kv("  ", "stream_server_address", "127.0.0.1")
	kv("  ", "stream_server_port", strconv.Itoa(c.StreamPort))
	// Root lacks CAP_SYS_RESOURCE in some VMs and user namespaces: without
	// this runc fails every sandbox writing oom_score_adj.
	kv("  ", "restrict_oom_score_adj", true)
	kv("  ", "enable_unprivileged_ports", true)
	kv("  ", "enable_unprivileged_icmp", true)
	kv("  ", "tolerate_missing_hugetlb_controller", true)
	kv("  ", "disable_hugetlb_controller", true)
	b.WriteString("\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n")
	kv("  ", "snapshotter", c.Snapshotter)
	kv("  ", "default_runtime_name", "runc")
	b.WriteString("\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n")
	kv("  ", "runtime_type", "io.containerd.runc.v2")
	b.WriteString("\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n")
	kv("  ", "SystemdCgroup", false)
	b.WriteString("\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n")
	kv("  ", "bin_dir", c.CNIBinDir)
	kv("  ", "conf_dir", c.CNIConfDir)
	b.WriteString("\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n")
	kv("  ", "config_path", c.hostsDir())
	return b.String()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

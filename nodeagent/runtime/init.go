package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/mountinfo"
)

// initArg0 is the argv[0] that makes a process a container init.
const initArg0 = "shoal-init"

func isInit() bool { return len(os.Args) > 0 && os.Args[0] == initArg0 }

func init() {
	if isInit() {
		// Locked in an init function, main runs on the main thread, whose
		// network namespace is the one /proc/<pid>/ns/net shows (for nsenter
		// and for /proc/<pid>/ns/net as another container's NetNS) and the
		// one the forked command inherits.
		goruntime.LockOSThread()
	}
}

// Init turns this process into a container init when the Runtime started
// it as one, and returns at once otherwise. Every binary that starts
// containers (cmd/shoal's main; the TestMain of a package whose tests start
// containers) must call it first, before flags, logging or anything that
// could write to stdout or spawn goroutines with side effects:
//
//	func main() {
//		runtime.Init()
//		...
//	}
//
// As init it never returns. It joins the network namespace, sets the host
// name, makes its mounts slaves of the node's (nothing propagates back),
// bind-mounts the spec's files, mounts a /proc of its PID namespace and
// starts the command as its child. Then, as PID 1, it behaves like tini:
// it forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
// SIGWINCH to the command, reaps orphans, writes the command's stdout and
// stderr to the rotated log, and when the command exits kills what is left
// in the namespace and exits with its code (128+n for signal n). So a
// command that does not handle SIGTERM still dies of it, as under Docker
// or containerd, rather than being immune as a PID 1 would be; one that
// traps or ignores it gets the grace period and then SIGKILL.
func Init() {
	if !isInit() {
		return
	}
	os.Exit(runInit())
}

var forwardedSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH,
}

func runInit() int {
	// First of all: PID 1 of a namespace receives only the signals it has a
	// handler for, and Go's handler would otherwise let SIGTERM kill the init
	// (and with it the namespace) instead of the command.
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwardedSignals...)
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)

	// Nothing inherited goes on to the command: it gets stdin, stdout and
	// stderr only.
	closeExecFrom(fdSync)
	sock := os.NewFile(fdSync, "init-sync")
	var cfg initConfig
	if err := json.NewDecoder(sock).Decode(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "shoal-init: read config: %v\n", err)
		return 1
	}
	child, logs, err := setup(&cfg)
	var reply initReply
	if err != nil {
		reply.Error = err.Error()
	}
	if serr := json.NewEncoder(sock).Encode(reply); serr != nil && err != nil {
		fmt.Fprintf(os.Stderr, "shoal-init: %v\n", err) // the agent is gone: leave it in init.log
	}
	sock.Close()
	if err != nil {
		return 1
	}
	return supervise(child, logs, sigs, chld)
}

// setup prepares the namespaces and starts the command.
func setup(cfg *initConfig) (int, *initLogs, error) {
	if cfg.NetNS != "" {
		if err := joinNetNS(cfg.NetNS); err != nil {
			return 0, nil, err
		}
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return 0, nil, fmt.Errorf("set hostname %q: %w", cfg.Hostname, err)
	}
	// Slave, not private: the node's mounts and unmounts still reach this
	// copy of its mount table where they propagate, while ours never reach
	// the node.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return 0, nil, fmt.Errorf("make mounts slave: %w", err)
	}
	for _, m := range cfg.Mounts {
		if err := bindMount(m); err != nil {
			return 0, nil, err
		}
	}
	if err := unmountNamespaceFiles(); err != nil {
		return 0, nil, err
	}
	if err := unix.Unmount("/proc", unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return 0, nil, fmt.Errorf("unmount node /proc: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return 0, nil, fmt.Errorf("mount /proc: %w", err)
	}
	if st, err := os.Stat(cfg.Dir); err != nil {
		return 0, nil, fmt.Errorf("working directory: %w", err)
	} else if !st.IsDir() {
		return 0, nil, fmt.Errorf("working directory %s: not a directory", cfg.Dir)
	}
	lw, err := openLogWriter(fdLogDir, cfg.LogMaxBytes, cfg.LogMaxFiles)
	if err != nil {
		return 0, nil, fmt.Errorf("open log: %w", err)
	}
	logs := &initLogs{w: lw}
	child, err := logs.start(cfg)
	if err != nil {
		lw.close()
		return 0, nil, err
	}
	return child, logs, nil
}

func joinNetNS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	defer f.Close()
	// This thread (the main one, locked in init) is the one that forks.
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join network namespace %s: %w", path, err)
	}
	return nil
}

func bindMount(m Mount) error {
	if _, err := os.Stat(m.Target); err != nil {
		return fmt.Errorf("bind mount %s: target: %w", m.Source, err)
	}
	if err := unix.Mount(m.Source, m.Target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		if err := unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// unmountNamespaceFiles drops the namespace files mounted on the node
// (/run/netns/<pod> of every other pod) from this copy of its mount table:
// a copy would keep those namespaces alive after the node deletes them,
// unless their mounts propagate (iproute2 makes /run/netns shared;
// internal/netns does not). The network namespace joined is kept alive by
// the membership itself.
func unmountNamespaceFiles() error {
	mounts, err := mountinfo.Read()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m.FSType != "nsfs" {
			continue
		}
		err := unix.Unmount(m.Point, unix.MNT_DETACH)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount namespace file %s: %w", m.Point, err)
		}
	}
	return nil
}

// closeExecFrom marks every descriptor from fd up close-on-exec.
func closeExecFrom(fd int) {
	if unix.CloseRange(uint(fd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	entries, err := os.ReadDir("/proc/self/fd") // Linux before 5.11
	if err != nil {
		return
	}
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= fd {
			unix.CloseOnExec(n)
		}
	}
}

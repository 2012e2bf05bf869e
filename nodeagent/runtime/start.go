package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// initConfig is what the parent sends its container init over the sync
// socket once the init is in its cgroup.
type initConfig struct {
	Path        string   `json:"path"` // resolved Command[0]
	Argv        []string `json:"argv"`
	Env         []string `json:"env"`
	Dir         string   `json:"dir"`
	Hostname    string   `json:"hostname"`
	NetNS       string   `json:"netns,omitempty"`
	Mounts      []Mount  `json:"mounts,omitempty"`
	LogMaxBytes int64    `json:"logMaxBytes"`
	LogMaxFiles int      `json:"logMaxFiles"`
}

// initReply is the init's answer: the main process started, or why not.
type initReply struct {
	Error string `json:"error,omitempty"`
}

// The init's inherited descriptors (exec.Cmd.ExtraFiles start at 3).
const (
	fdSync     = 3 // socket to the parent
	fdLogDir   = 4 // the container's log directory
	fdStateDir = 5 // the container's state directory, for exit.json
)

// startTimeout bounds the init's set-up when ctx has no deadline.
const startTimeout = 30 * time.Second

// Start runs a container: an init process (this binary, see Init) in new
// mount, UTS, IPC and PID namespaces, in the container's cgroup, joins
// spec.NetNS, prepares hostname and mounts, and starts the command as its
// child. Start returns once the command has been exec'd, or with the error
// that prevented it (ErrCommandNotFound, ErrInvalidSpec, a mount or netns
// failure, ErrAlreadyRunning). The log of the container's last instance
// becomes the previous one.
func (r *Runtime) Start(ctx context.Context, spec Spec) (*Container, error) {
	spec = spec.clone()
	ref := spec.Pod.Namespace + "/" + spec.Pod.Name + "/" + spec.Name
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("start %s: %w", ref, err)
	}
	env := spec.environ()
	dir := spec.WorkingDir
	if dir == "" {
		dir = "/"
	}
	exe, err := resolveCommand(spec.Command[0], dir, env)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", ref, err)
	}
	k := ckey{spec.Pod.UID, spec.Name}
	r.mu.Lock()
	if r.isClosed() {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if _, ok := r.containers[k]; ok {
		r.mu.Unlock()
		return nil, fmt.Errorf("start %s: %w", ref, ErrAlreadyRunning)
	}
	r.containers[k] = nil // reserved while starting
	r.mu.Unlock()

	cfg := initConfig{
		Path:        exe,
		Argv:        append(append([]string(nil), spec.Command...), spec.Args...),
		Env:         env,
		Dir:         dir,
		Hostname:    spec.hostname(),
		NetNS:       spec.NetNS,
		Mounts:      spec.Mounts,
		LogMaxBytes: r.opts.LogMaxBytes,
		LogMaxFiles: r.opts.LogMaxFiles,
	}
	c, cmd, err := r.start(ctx, spec, ref, &cfg)

	r.mu.Lock()
	if err != nil {
		delete(r.containers, k)
	} else {
		r.containers[k] = c
	}
	r.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", ref, err)
	}
	go c.watchChild(cmd)
	return c, nil
}

func (r *Runtime) start(ctx context.Context, spec Spec, ref string, cfg *initConfig) (c *Container, cmd *exec.Cmd, err error) {
	stateDir := r.stateDir(spec.Pod.UID, spec.Name)
	if rec, err := readRecord(stateDir); err == nil && alive(rec.Pid, rec.PidStart) {
		return nil, nil, fmt.Errorf("%w (pid %d, not adopted)", ErrAlreadyRunning, rec.Pid)
	}
	cgroup := r.cgroupPath(spec.Pod.UID, spec.Name)
	defer func() {
		if err != nil {
			if cmd != nil && cmd.Process != nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
			r.cleanup(cgroup, stateDir)
		}
	}()
	// Leftovers of an agent that crashed mid-start or mid-cleanup.
	os.RemoveAll(stateDir)
	if err := r.cg.remove(cgroup); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, nil, err
	}
	logDir := r.logDir(spec.Pod, spec.Name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, nil, err
	}
	if err := shiftToPrevious(logDir); err != nil {
		return nil, nil, fmt.Errorf("keep previous log: %w", err)
	}
	if err := r.cg.create(cgroup, limits{cpuMillis: spec.CPUMillis, memoryBytes: spec.MemoryBytes}); err != nil {
		return nil, nil, err
	}

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	parentSock := os.NewFile(uintptr(fds[0]), "init-sync")
	childSock := os.NewFile(uintptr(fds[1]), "init-sync")
	defer parentSock.Close()
	cmd, err = r.command(ref, childSock, logDir, stateDir)
	childSock.Close()
	if err != nil {
		return nil, nil, err
	}
	pid := cmd.Process.Pid

	// The init waits for its config before anything else, so it runs no
	// user code before it is in its cgroup.
	if err := r.cg.add(cgroup, pid); err != nil {
		return nil, cmd, err
	}
	_, pidStart, err := procStat(pid)
	if err != nil {
		return nil, cmd, err
	}
	// Recorded before the command runs: if the agent dies from here on, the
	// next one adopts the container rather than losing it.
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	rec := &record{
		Spec: spec, Pid: pid, PidStart: pidStart, BootID: strings.TrimSpace(string(bootID)),
		Cgroup: cgroup, CgroupVersion: r.cg.version(), LogDir: logDir, StartedAt: time.Now(),
	}
	if err := writeRecord(stateDir, rec); err != nil {
		return nil, cmd, err
	}
	if err := handshake(ctx, parentSock, cfg); err != nil {
		if b, _ := os.ReadFile(filepath.Join(stateDir, initLogFile)); len(b) > 0 {
			err = fmt.Errorf("%w; init: %s", err, lastLine(b))
		}
		return nil, cmd, err
	}
	c = &Container{
		rt: r, spec: spec, pid: pid, cgroup: cgroup, stateDir: stateDir,
		startedAt: rec.StartedAt, proc: cmd.Process, done: make(chan struct{}),
	}
	return c, cmd, nil
}

// command starts the init, blocked on its sync socket.
func (r *Runtime) command(ref string, sock *os.File, logDir, stateDir string) (*exec.Cmd, error) {
	logDirF, err := os.Open(logDir)
	if err != nil {
		return nil, err
	}
	defer logDirF.Close()
	stateDirF, err := os.Open(stateDir)
	if err != nil {
		return nil, err
	}
	defer stateDirF.Close()
	// The init's own stderr is a file, not the agent's: it must outlive the
	// agent, and a write to a dead agent's pipe would kill it.
	initLog, err := os.OpenFile(filepath.Join(stateDir, initLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer initLog.Close()
	cmd := &exec.Cmd{
		Path:       r.opts.InitPath,
		Args:       []string{initArg0, ref},
		Env:        initEnv(),
		Stderr:     initLog,
		ExtraFiles: []*os.File{sock, logDirF, stateDirF}, // fdSync, fdLogDir, fdStateDir
		SysProcAttr: &syscall.SysProcAttr{
			// No Pdeathsig: containers outlive an agent restart.
			Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWPID,
		},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start container init: %w", err)
	}
	return cmd, nil
}

// handshake sends the init its config and reads whether the command started.
func handshake(ctx context.Context, sock *os.File, cfg *initConfig) error {
	conn, err := net.FileConn(sock)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(startTimeout)
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(cfg); err != nil {
		return fmt.Errorf("send config to init: %w", err)
	}
	var reply initReply
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("container init exited during set-up: %w", err)
	}
	if reply.Error != "" {
		return errors.New(reply.Error)
	}
	return nil
}

// initEnv is the init's environment: nothing of the agent's but GORACE, so
// that a race-detector build (tests) can spare each init's exit a second's
// sleep (atexit_sleep_ms). The command's environment is the spec's alone.
func initEnv() []string {
	env := []string{"GOMAXPROCS=1"} // it only waits and copies output: fewer threads, less memory
	if v, ok := os.LookupEnv("GORACE"); ok {
		env = append(env, "GORACE="+v)
	}
	return env
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func (s Spec) clone() Spec {
	s.Command = append([]string(nil), s.Command...)
	s.Args = append([]string(nil), s.Args...)
	s.Env = append([]string(nil), s.Env...)
	s.Mounts = append([]Mount(nil), s.Mounts...)
	return s
}

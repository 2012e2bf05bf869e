package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Defaults of Options.
const (
	DefaultCgroupRoot  = "shoal"
	DefaultLogMaxBytes = 10 << 20
	DefaultLogMaxFiles = 5
)

// Options configure a Runtime. StateDir and LogDir are required.
type Options struct {
	// StateDir holds a record per running container, for adoption by the
	// next Runtime (the agent restarted). One Runtime at a time may use it.
	StateDir string
	// LogDir holds the containers' logs, in the kubelet's layout:
	// <LogDir>/<namespace>_<pod>_<uid>/<container>/container.log.
	LogDir string
	// CgroupRoot is the cgroup, relative to the hierarchy root, under which
	// containers get <CgroupRoot>/<podUID>/<container>; default "shoal".
	// Everything under it belongs to this Runtime: Adopt removes what it
	// cannot account for. Agents sharing a machine need distinct roots.
	CgroupRoot string
	// LogMaxBytes rotates a container's log at this size; LogMaxFiles is
	// how many files (current and rotated) are kept. Defaults 10 MiB and 5.
	LogMaxBytes int64
	LogMaxFiles int
	// InitPath is the executable started as each container's init; it must
	// call Init first thing in main. Default /proc/self/exe: this binary.
	InitPath string
	Logger   *slog.Logger
}

// Runtime starts and tracks the containers of one node agent.
type Runtime struct {
	opts Options
	cg   cgroups
	log  *slog.Logger
	lock *os.File // flock on the state directory

	mu         sync.Mutex
	containers map[ckey]*Container // running; nil while starting

	// life is held shared while a container's exit is being recorded and
	// cleaned up, and exclusively by Close, so that nothing is cleaned up
	// behind the Runtime that adopts next.
	life      sync.RWMutex
	closed    chan struct{}
	closeOnce sync.Once
}

type ckey struct{ uid, name string }

// New prepares a Runtime: it needs root and a cgroup hierarchy (v1 or v2,
// whichever the machine has; ErrUnsupported says which is missing), and
// locks StateDir. Call Adopt next to take over what a previous agent left
// running.
func New(opts Options) (*Runtime, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: containers need root (namespaces, cgroups, mounts)", ErrUnsupported)
	}
	cg, err := detectCgroups()
	if err != nil {
		return nil, err
	}
	return newRuntime(opts, cg)
}

// Check reports whether this process could run containers, without
// touching anything: it needs root and a cgroup hierarchy. The error wraps
// ErrUnsupported and says which is missing, for a caller (`shoal up`) that
// runs without containers rather than fail.
func Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: containers need root (namespaces, cgroups, mounts)", ErrUnsupported)
	}
	_, err := detectCgroups()
	return err
}

func newRuntime(opts Options, cg cgroups) (*Runtime, error) {
	if opts.StateDir == "" || opts.LogDir == "" {
		return nil, errors.New("runtime: StateDir and LogDir are required")
	}
	var err error
	if opts.StateDir, err = filepath.Abs(opts.StateDir); err != nil {
		return nil, err
	}
	if opts.LogDir, err = filepath.Abs(opts.LogDir); err != nil {
		return nil, err
	}
	if opts.CgroupRoot == "" {
		opts.CgroupRoot = DefaultCgroupRoot
	}
	opts.CgroupRoot = strings.Trim(path.Clean("/"+opts.CgroupRoot), "/")
	if opts.CgroupRoot == "" {
		return nil, errors.New("runtime: CgroupRoot must not be the hierarchy root")
	}
	if opts.LogMaxBytes <= 0 {
		opts.LogMaxBytes = DefaultLogMaxBytes
	}
	if opts.LogMaxFiles <= 0 {
		opts.LogMaxFiles = DefaultLogMaxFiles
	}
	if opts.InitPath == "" {
		opts.InitPath = "/proc/self/exe"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(opts.StateDir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", opts.StateDir, ErrStateDirLocked)
		}
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	return &Runtime{
		opts:       opts,
		cg:         cg,
		log:        opts.Logger.With("component", "runtime"),
		lock:       lock,
		containers: map[ckey]*Container{},
		closed:     make(chan struct{}),
	}, nil
}

// CgroupVersion is 1 or 2, the cgroup hierarchy in use.
func (r *Runtime) CgroupVersion() int { return r.cg.version() }

// Close detaches the Runtime from its containers without stopping them:
// they keep running and logging, and a new Runtime on the same StateDir
// adopts them. Afterwards the Runtime and its Containers return ErrClosed.
// To stop the containers, Stop each before Close.
func (r *Runtime) Close() error {
	r.closeOnce.Do(func() {
		r.life.Lock()
		close(r.closed)
		r.life.Unlock()
		r.lock.Close() // releases the flock
	})
	return nil
}

func (r *Runtime) isClosed() bool {
	select {
	case <-r.closed:
		return true
	default:
		return false
	}
}

// RemovePodLogs deletes the logs of all of a pod's containers, for a pod
// that is gone.
func (r *Runtime) RemovePodLogs(pod PodRef) error {
	for _, v := range []string{pod.Namespace, pod.Name, pod.UID} {
		if err := checkPathElem(v); err != nil {
			return fmt.Errorf("remove logs of pod %s/%s: %w: %v", pod.Namespace, pod.Name, ErrInvalidSpec, err)
		}
	}
	return os.RemoveAll(r.podLogDir(pod))
}

func (r *Runtime) stateDir(uid, name string) string {
	return filepath.Join(r.opts.StateDir, uid, name)
}

func (r *Runtime) podLogDir(pod PodRef) string {
	return filepath.Join(r.opts.LogDir, pod.Namespace+"_"+pod.Name+"_"+pod.UID)
}

func (r *Runtime) logDir(pod PodRef, name string) string {
	return filepath.Join(r.podLogDir(pod), name)
}

func (r *Runtime) cgroupPath(uid, name string) string {
	return r.opts.CgroupRoot + "/" + uid + "/" + name
}

// running returns the running container of a pod by name, or nil.
func (r *Runtime) running(uid, name string) *Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.containers[ckey{uid, name}]
}

func (r *Runtime) forget(c *Container) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := ckey{c.spec.Pod.UID, c.spec.Name}
	if r.containers[k] == c {
		delete(r.containers, k)
	}
}

// cleanup removes what a container that has exited leaves: its cgroup (and
// the pod's, once empty) and its state directory (and the pod's).
func (r *Runtime) cleanup(cgroup, stateDir string) {
	if err := r.cg.remove(cgroup); err != nil {
		r.log.Warn("remove cgroup", "cgroup", cgroup, "err", err)
	}
	r.cg.removeIfEmpty(path.Dir(cgroup))
	if err := os.RemoveAll(stateDir); err != nil {
		r.log.Warn("remove state", "dir", stateDir, "err", err)
	}
	os.Remove(filepath.Dir(stateDir)) // fails while the pod has other containers
}

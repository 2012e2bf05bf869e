package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/atomicfile"
)

// Files of a container's state directory, <StateDir>/<podUID>/<container>/.
const (
	stateFile   = "state.json" // record, written by the agent before the init may run user code
	exitFile    = "exit.json"  // exitRecord, written by the init when the main process has exited
	initLogFile = "init.log"   // the init's own stderr (a Go panic, say)
)

// record is what a later Runtime needs to adopt a running container.
type record struct {
	Spec          Spec      `json:"spec"`
	Pid           int       `json:"pid"`      // the init's PID on the node
	PidStart      uint64    `json:"pidStart"` // its start time (/proc/<pid>/stat field 22): a reused PID differs
	BootID        string    `json:"bootID"`   // start times count from boot: after a reboot no record is alive
	Cgroup        string    `json:"cgroup"`
	CgroupVersion int       `json:"cgroupVersion"`
	LogDir        string    `json:"logDir"`
	StartedAt     time.Time `json:"startedAt"`
}

// exitRecord is how the main process ended, as its init saw it.
type exitRecord struct {
	Code       int       `json:"code"`
	Signal     int       `json:"signal,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
}

func writeRecord(dir string, rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, stateFile), b, 0o600)
}

func readRecord(dir string) (*record, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &rec, nil
}

func readExit(dir string) (*exitRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, exitFile))
	if err != nil {
		return nil, err
	}
	var rec exitRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, exitFile), err)
	}
	return &rec, nil
}

// procStat returns a process's state letter and start time (clock ticks
// since boot) from /proc/<pid>/stat.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces or
	// parentheses: the fields we want follow the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	start, err = strconv.ParseUint(string(f[19]), 10, 64) // field 22
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return f[0][0], start, nil // field 3
}

// alive reports whether pid is still the process that started at start and
// has not exited (a zombie has).
func alive(pid int, start uint64) bool {
	state, s, err := procStat(pid)
	return err == nil && s == start && state != 'Z' && state != 'X'
}

// procRef is a handle on a process that is not this process's child: an
// adopted container's init. It uses a pidfd, so neither signals nor the
// wait can hit a process that reused the PID; without pidfd support (Linux
// before 5.3) it checks the start time and polls /proc.
type procRef struct {
	pid   int
	start uint64
	fd    *os.File // pidfd, or nil
}

func openProc(pid int, start uint64) (*procRef, error) {
	p := &procRef{pid: pid, start: start}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err == nil {
		p.fd = os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(pid))
	}
	// Checked after opening: if the start time matches now, the pidfd
	// refers to our process and not to one that reused its PID.
	if !alive(pid, start) {
		p.close()
		return nil, ErrNotRunning
	}
	return p, nil
}

func (p *procRef) signal(sig syscall.Signal) error {
	if p.fd == nil {
		if !alive(p.pid, p.start) {
			return ErrNotRunning
		}
		return syscall.Kill(p.pid, sig)
	}
	rc, err := p.fd.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); err != nil {
		return err
	}
	if errors.Is(serr, syscall.ESRCH) {
		return ErrNotRunning
	}
	return serr
}

// wait blocks until the process has exited (true) or stop is closed (false).
func (p *procRef) wait(stop <-chan struct{}) bool {
	if p.fd != nil {
		rc, err := p.fd.SyscallConn()
		if err == nil {
			watching := make(chan struct{})
			defer close(watching)
			go func() {
				select {
				case <-stop:
					p.fd.SetReadDeadline(time.Now()) // wakes the Read below
				case <-watching:
				}
			}()
			// A pidfd polls readable once the process has exited.
			err = rc.Read(func(fd uintptr) bool {
				n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
				return n > 0
			})
			if err == nil {
				return true
			}
			select {
			case <-stop:
				return false
			default: // not pollable here: poll /proc instead
			}
		}
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for alive(p.pid, p.start) {
		select {
		case <-stop:
			return false
		case <-t.C:
		}
	}
	return true
}

func (p *procRef) close() {
	if p.fd != nil {
		p.fd.Close()
	}
}

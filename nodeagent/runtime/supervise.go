package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// initOOMScoreAdj keeps the OOM killer off the init while the command (which
// inherits the agent's score) has anything to kill: the init is small, and
// it is what records how the command ended.
const initOOMScoreAdj = "-999"

// drainTimeout bounds how long the init waits for the last output once
// everything in the namespace is dead (a descriptor passed outside it could
// keep a pipe open).
const drainTimeout = 2 * time.Second

// initLogs owns the command's stdout and stderr pipes and their copiers.
type initLogs struct {
	w       *logWriter
	copying sync.WaitGroup
}

// start forks and execs the command with the pipes as stdout and stderr.
func (l *initLogs) start(cfg *initConfig) (int, error) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer outW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		return 0, err
	}
	defer errW.Close()
	pid, err := syscall.ForkExec(cfg.Path, cfg.Argv, &syscall.ProcAttr{
		Dir:   cfg.Dir,
		Env:   cfg.Env,
		Files: []uintptr{null.Fd(), outW.Fd(), errW.Fd()},
		// Its own session and process group, as under a tty-less runtime.
		Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, fmt.Errorf("exec %s: %w", cfg.Path, err)
	}
	l.copying.Add(2)
	go func() { defer l.copying.Done(); defer outR.Close(); copyStream(l.w, "stdout", outR) }()
	go func() { defer l.copying.Done(); defer errR.Close(); copyStream(l.w, "stderr", errR) }()
	return pid, nil
}

// supervise runs the init as PID 1 until the command exits, and returns the
// init's exit code.
func supervise(child int, logs *initLogs, sigs, chld <-chan os.Signal) int {
	os.WriteFile("/proc/self/oom_score_adj", []byte(initOOMScoreAdj), 0)
	var status syscall.WaitStatus
	for exited := false; !exited; {
		exited = reap(child, &status)
		if exited {
			break
		}
		select {
		case s := <-sigs:
			syscall.Kill(child, s.(syscall.Signal))
		case <-chld:
		}
	}
	finished := time.Now()

	// The command is gone: end what it left behind, as the kernel will when
	// this init exits, but first, so that their output pipes close and the
	// log is complete.
	for {
		if os.Getpid() == 1 {
			syscall.Kill(-1, syscall.SIGKILL) // everything in this PID namespace but us
		} else {
			syscall.Kill(-child, syscall.SIGKILL) // not namespaced (never under Runtime): its group
		}
		pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
		if err == syscall.ECHILD {
			break // all reaped
		}
		if pid <= 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	copied := make(chan struct{})
	go func() { logs.copying.Wait(); close(copied) }()
	select {
	case <-copied:
	case <-time.After(drainTimeout):
	}
	logs.w.close()

	rec := exitRecord{FinishedAt: finished}
	switch {
	case status.Signaled():
		rec.Signal = int(status.Signal())
		rec.Code = 128 + rec.Signal
	default:
		rec.Code = status.ExitStatus()
	}
	if err := writeExitRecord(fdStateDir, &rec); err != nil {
		fmt.Fprintf(os.Stderr, "shoal-init: %v\n", err)
	}
	return rec.Code
}

// reap collects every exited child; it reports whether one was the command.
func reap(child int, status *syscall.WaitStatus) bool {
	found := false
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return found
		}
		if pid == child {
			*status, found = ws, true
		}
	}
}

// writeExitRecord writes exit.json atomically into the state directory.
func writeExitRecord(dirfd int, rec *exitRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	const tmp = "." + exitFile + ".tmp"
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("write exit record: %w", err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dirfd, tmp, dirfd, exitFile)
	}
	if err != nil {
		return fmt.Errorf("write exit record: %w", err)
	}
	return nil
}

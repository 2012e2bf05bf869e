package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse means another `shoal up` holds the data directory.
var ErrDataDirInUse = errors.New("data directory is in use")

// lockDataDir takes an exclusive lock on dir for this process's life, so two
// `shoal up` never share one etcd data directory. The kernel drops the lock
// when the process dies, even by SIGKILL.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "shoal.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		holder := strings.TrimSpace(string(b))
		if holder == "" {
			holder = "unknown"
		}
		return nil, fmt.Errorf("%w: %s is locked by another shoal up (pid %s); stop it or choose another --data-dir", ErrDataDirInUse, dir, holder)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		f.Truncate(0)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

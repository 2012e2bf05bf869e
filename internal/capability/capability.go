// Package capability tells whether this process has the privileges that
// namespaces, bridges, veths and mounts take: uid 0 and the effective Linux
// capabilities CAP_NET_ADMIN and CAP_SYS_ADMIN. The node agent's preflight
// check and the tests' environment check (internal/testenv) share it, so a
// test skips or fails for the same reason the agent refuses to start.
package capability

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Linux capability numbers (include/uapi/linux/capability.h).
const (
	NetAdmin = 12
	SysAdmin = 21
)

// Missing names what this process lacks of root, CAP_NET_ADMIN and
// CAP_SYS_ADMIN, each with what it is for; nil when it has them all.
func Missing() []string {
	var missing []string
	if uid := os.Geteuid(); uid != 0 {
		missing = append(missing, "root (this process runs as uid "+strconv.Itoa(uid)+")")
	}
	eff, err := Effective()
	if err != nil {
		return append(missing, "readable capabilities ("+err.Error()+")")
	}
	if eff&(1<<NetAdmin) == 0 {
		missing = append(missing, "CAP_NET_ADMIN (for bridges, veths and routes)")
	}
	if eff&(1<<SysAdmin) == 0 {
		missing = append(missing, "CAP_SYS_ADMIN (for namespaces and mounts)")
	}
	return missing
}

// Root is nil if this process is root with CAP_NET_ADMIN and CAP_SYS_ADMIN,
// or an error naming everything that is missing.
func Root() error {
	if m := Missing(); len(m) > 0 {
		return fmt.Errorf("needs %s", strings.Join(m, ", "))
	}
	return nil
}

// Effective is the effective capability set of the calling thread, a bit
// per capability number, from the CapEff line of /proc/thread-self/status.
// Capabilities are per thread: a thread that dropped some (as a test of
// namespace switching does, and keeps locked) would mislead a check that
// read the process's main thread, /proc/self/status.
func Effective() (uint64, error) {
	f, err := os.Open("/proc/thread-self/status")
	if errors.Is(err, os.ErrNotExist) { // Linux before 3.17
		f, err = os.Open("/proc/self/status")
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseCapEff(f)
}

// parseCapEff reads the CapEff line of a /proc/<pid>/status.
func parseCapEff(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("parse CapEff: %w", err)
			}
			return caps, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read the status file: %w", err)
	}
	return 0, errors.New("no CapEff line in the status file")
}

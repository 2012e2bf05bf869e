package benchenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// FreeAddr is a 127.0.0.1 address whose port is free for both TCP and UDP
// (DNS listens on both) at the time of the call.
func FreeAddr() (string, error) {
	port, err := testenv.FindPort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// Memory is a process's resident set size (VmRSS) and its peak (VmHWM), in
// bytes, from /proc/<pid>/status; zeros if it cannot be read.
func Memory(pid int) (rss, peak int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

// ProcStatus is every "kB" line of /proc/<pid>/status (VmRSS, RssAnon,
// RssFile, VmHWM, ...) in bytes; nil if it cannot be read.
func ProcStatus(pid int) map[string]int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		if n, ok := strings.CutSuffix(v, " kB"); ok {
			if kb, err := strconv.ParseInt(n, 10, 64); err == nil {
				out[k] = kb << 10
			}
		}
	}
	return out
}

// ForEach runs f(0..n-1) on parallel goroutines and returns the first
// error; after an error no new index is started.
func ForEach(n, parallel int, f func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range max(1, parallel) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// CPUTime is the user plus system CPU time a process has used so far, from
// /proc/<pid>/stat (in clock ticks of 1/100 s, Linux's USER_HZ); zero if it
// cannot be read.
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// LoadAverage is the 1-minute load average from /proc/loadavg, "?" if it
// cannot be read: benchmarks print it, as the machine may be shared.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

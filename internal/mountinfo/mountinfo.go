// Package mountinfo reads /proc/self/mountinfo, the mount table of the
// calling process's mount namespace, as the node agent's cgroup detection
// and container init and the node harness's clean-up need it.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of mountinfo, reduced to what Shoal reads.
type Mount struct {
	Point        string   // the mount point, unescaped
	FSType       string   // cgroup, cgroup2, nsfs, ...
	SuperOptions []string // the file system's options: cgroup v1's controllers, say
}

// Read parses the calling process's /proc/self/mountinfo.
func Read() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mounts, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// Parse reads mountinfo lines from r (see proc(5)); it skips a line it
// cannot read.
func Parse(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		out = append(out, Mount{Point: Unescape(f[4]), FSType: g[0], SuperOptions: strings.Split(g[2], ",")})
	}
	return out, sc.Err()
}

// Unescape undoes mountinfo's octal escapes of a space, tab, newline and
// backslash in a path (\040 for a space).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

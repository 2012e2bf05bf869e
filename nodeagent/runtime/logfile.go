package runtime

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A container's log directory, <LogDir>/<namespace>_<pod>_<uid>/<container>/,
// holds the running (or last) instance's log, container.log, with its
// rotated predecessors container.log.1 (newest) to .N-1, and the instance
// before that as previous.log[.k] (kubectl logs --previous).
const (
	currentLog  = "container.log"
	previousLog = "previous.log"
)

// Each line of a log file is a CRI log record, as the kubelet's are:
//
//	2024-05-01T10:00:00.123456789Z stdout F the line's text
//
// F ends a line; P is a fragment of a longer line (or of a last line without
// a newline) that the next record continues.
type logRecord struct {
	time    time.Time
	stream  string
	partial bool
	content []byte
}

func appendRecord(b []byte, t time.Time, stream string, partial bool, content []byte) []byte {
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	if partial {
		b = append(b, " P "...)
	} else {
		b = append(b, " F "...)
	}
	b = append(b, content...)
	return append(b, '\n')
}

// parseRecord parses one line without its newline. A line that is not a
// record is returned whole as a stdout line, so nothing is lost.
func parseRecord(line []byte) logRecord {
	f := bytes.SplitN(line, []byte{' '}, 4)
	if len(f) == 4 && len(f[2]) == 1 && (f[2][0] == 'F' || f[2][0] == 'P') {
		if t, err := time.Parse(time.RFC3339Nano, string(f[0])); err == nil {
			return logRecord{time: t, stream: string(f[1]), partial: f[2][0] == 'P', content: f[3]}
		}
	}
	return logRecord{stream: "stdout", content: line}
}

func rotatedName(base string, i int) string {
	if i == 0 {
		return base
	}
	return base + "." + strconv.Itoa(i)
}

// logFiles lists base's files in dir oldest first: base.N-1 ... base.1, base.
func logFiles(dir, base string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type file struct {
		name string
		n    int
	}
	var files []file
	for _, e := range entries {
		name := e.Name()
		if name == base {
			files = append(files, file{name, 0})
		} else if s, ok := strings.CutPrefix(name, base+"."); ok {
			if n, err := strconv.Atoi(s); err == nil && n > 0 {
				files = append(files, file{name, n})
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].n > files[j].n })
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = filepath.Join(dir, f.name)
	}
	return out, nil
}

// shiftToPrevious makes the last instance's logs the previous ones, before a
// new instance starts writing container.log. An instance that logged
// nothing (one that failed to start, say) does not replace the previous.
func shiftToPrevious(dir string) error {
	cur, err := logFiles(dir, currentLog)
	if err != nil {
		return err
	}
	if len(cur) == 0 {
		return nil
	}
	if st, err := os.Stat(cur[0]); len(cur) == 1 && err == nil && st.Size() == 0 {
		return os.Remove(cur[0])
	}
	old, err := logFiles(dir, previousLog)
	if err != nil {
		return err
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, p := range cur {
		to := filepath.Join(dir, previousLog+strings.TrimPrefix(filepath.Base(p), currentLog))
		if err := os.Rename(p, to); err != nil {
			return err
		}
	}
	return nil
}

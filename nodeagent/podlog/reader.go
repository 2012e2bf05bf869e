package podlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// followPoll is how often a follower looks for more output and whether the
// container still runs. Polling keeps the follower simple and costs nothing
// while the file grows.
const followPoll = 100 * time.Millisecond

// errLimit ends a read at LimitBytes; Read returns nil for it.
var errLimit = errors.New("log byte limit reached")

// Read writes the log at path (one container instance's: its rotated files
// and the current one, oldest first) to w as opts ask. With opts.Follow it
// then keeps writing what is appended, through rotations, until running
// reports false (the instance has exited: what it wrote is drained first)
// or ctx ends. It returns ErrNotFound when there is no such log.
func Read(ctx context.Context, path string, opts LogOptions, w io.Writer, running func() bool) error {
	if paths, _ := Files(path); len(paths) == 0 {
		return fmt.Errorf("log %s: %w", path, ErrNotFound)
	}
	files, err := openLogFiles(path)
	if err != nil {
		return fmt.Errorf("log %s: %w", path, err)
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	out := &logOutput{w: w, timestamps: opts.Timestamps, since: opts.SinceTime, limit: -1}
	if opts.LimitBytes != nil {
		out.limit = max(*opts.LimitBytes, 0)
	}
	if !opts.Follow {
		running = nil
	}
	err = readLogs(ctx, files, path, opts.TailLines, running, out)
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

func readLogs(ctx context.Context, files []*os.File, currentPath string, tail *int64, running func() bool, out *logOutput) error {
	var ring *tailRing
	if tail != nil {
		ring = &tailRing{n: int(max(*tail, 0))}
	}
	emit := out.emit
	if ring != nil {
		emit = ring.add
	}
	scanners := make([]*recordScanner, len(files))
	for i, f := range files {
		scanners[i] = &recordScanner{br: bufio.NewReaderSize(f, 64*1024)}
		if err := scanners[i].drain(emit); err != nil {
			return err
		}
	}
	if ring != nil {
		if err := ring.flush(out.emit); err != nil {
			return err
		}
	}
	if running == nil || len(files) == 0 {
		return nil
	}
	return follow(ctx, files[len(files)-1], scanners[len(files)-1], currentPath, running, out)
}

// follow reads what is appended to cur until running reports false,
// switching to a new file at path when the writer has rotated cur away.
func follow(ctx context.Context, cur *os.File, sc *recordScanner, path string, running func() bool, out *logOutput) error {
	first := cur // closed by the caller
	defer func() {
		if cur != first {
			cur.Close()
		}
	}()
	exited := false
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		if err := sc.drain(out.emit); err != nil {
			return err
		}
		if rotated(cur, path) {
			// Everything written to cur was written before its rename.
			if err := sc.drain(out.emit); err != nil {
				return err
			}
			if next := openSuccessor(cur, path); next != nil {
				if cur != first {
					cur.Close()
				}
				cur = next
				sc = &recordScanner{br: bufio.NewReaderSize(cur, 64*1024)}
				continue
			}
		}
		if exited {
			return nil // drained after the container, and so its log writer, ended
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			exited = !running()
		}
	}
}

// openLogFiles opens path's files, oldest first. It opens them all
// before reading any, so that a rotation while reading changes their names
// but not what is read, and checks that the names still match the files
// once all are open, so that no rotation came between listing and opening.
func openLogFiles(path string) ([]*os.File, error) {
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
		files = nil
	}
	for range 10 {
		paths, err := Files(path)
		if err != nil {
			return nil, err
		}
		consistent := true
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				consistent = false
				break
			}
			files = append(files, f)
		}
		for i := 0; consistent && i < len(files); i++ {
			consistent = samePath(files[i], paths[i])
		}
		if consistent {
			return files, nil
		}
		closeAll()
	}
	return nil, errors.New("log files keep changing")
}

// samePath reports whether path names the open file f.
func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// rotated reports whether path no longer names the file f.
func rotated(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false // between the rename and the new file's creation
	}
	return !os.SameFile(a, b)
}

// openSuccessor opens the file written after cur, which has been rotated
// away from path: the next newer of path's files, found by identity, so
// that a follower that slept through several rotations reads them all
// (unless the oldest were deleted meanwhile). It returns nil if the
// successor does not exist yet.
func openSuccessor(cur *os.File, path string) *os.File {
	curInfo, err := cur.Stat()
	if err != nil {
		return nil
	}
	for range 10 { // a rename between listing and opening: list again
		names, err := Files(path)
		if err != nil {
			return nil
		}
		next := 0 // cur deleted: start at the oldest that is left
		for i, n := range names {
			if st, err := os.Stat(n); err == nil && os.SameFile(st, curInfo) {
				next = i + 1
			}
		}
		if next >= len(names) {
			return nil
		}
		want, err := os.Stat(names[next])
		if err != nil {
			continue
		}
		f, err := os.Open(names[next])
		if err != nil {
			continue
		}
		if st, err := f.Stat(); err == nil && os.SameFile(st, want) {
			return f
		}
		f.Close()
	}
	return nil
}

// recordScanner yields the complete records of a file that may still grow:
// a trailing record without its newline waits for the rest.
type recordScanner struct {
	br      *bufio.Reader
	pending []byte
}

func (s *recordScanner) drain(emit func(logRecord) error) error {
	for {
		chunk, err := s.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull || (err == io.EOF && len(chunk) > 0) {
			s.pending = append(s.pending, chunk...)
			if err == io.EOF {
				return nil
			}
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		line := chunk[:len(chunk)-1]
		if len(s.pending) > 0 {
			s.pending = append(s.pending, line...)
			line, s.pending = s.pending, nil
		}
		if err := emit(parseRecord(line)); err != nil {
			return err
		}
	}
}

// logOutput turns records into kubectl logs output.
type logOutput struct {
	w          io.Writer
	timestamps bool
	since      time.Time
	limit      int64 // bytes left; -1 = no limit
	midLine    bool  // the last record was a fragment
	skipping   bool  // the current line is older than since
}

func (o *logOutput) emit(rec logRecord) error {
	if !o.midLine {
		o.skipping = !o.since.IsZero() && !rec.time.IsZero() && rec.time.Before(o.since)
		if !o.skipping && o.timestamps && !rec.time.IsZero() {
			if err := o.write(rec.time.UTC().AppendFormat(nil, time.RFC3339Nano)); err != nil {
				return err
			}
			if err := o.write([]byte{' '}); err != nil {
				return err
			}
		}
	}
	o.midLine = rec.partial
	if o.skipping {
		return nil
	}
	if err := o.write(rec.content); err != nil {
		return err
	}
	if !rec.partial {
		return o.write([]byte{'\n'})
	}
	return nil
}

func (o *logOutput) write(b []byte) error {
	if o.limit >= 0 {
		if o.limit == 0 {
			return errLimit
		}
		if int64(len(b)) > o.limit {
			b = b[:o.limit]
		}
		o.limit -= int64(len(b))
	}
	_, err := o.w.Write(b)
	return err
}

// tailRing keeps the records of the last n lines.
type tailRing struct {
	n     int
	lines [][]logRecord
	open  bool // the last line has not ended yet
}

func (t *tailRing) add(rec logRecord) error {
	rec.content = append([]byte(nil), rec.content...) // the scanner reuses its buffer
	if t.open {
		last := len(t.lines) - 1
		t.lines[last] = append(t.lines[last], rec)
	} else {
		t.lines = append(t.lines, []logRecord{rec})
	}
	t.open = rec.partial
	if len(t.lines) > t.n+1 || (len(t.lines) > t.n && !t.open) {
		t.lines = t.lines[1:]
	}
	return nil
}

func (t *tailRing) flush(emit func(logRecord) error) error {
	start := 0
	if len(t.lines) > t.n {
		start = len(t.lines) - t.n // an unfinished last line counts once it ends
	}
	for _, line := range t.lines[start:] {
		for _, rec := range line {
			if err := emit(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

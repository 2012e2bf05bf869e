package runtime

import (
	"bufio"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxLogLine is the longest line written as one record; longer lines are
// split into P records. It is also the pipe read buffer of each stream.
const maxLogLine = 16 * 1024

// logWriter appends CRI records to container.log in a directory (given as a
// descriptor, so the container's mounts cannot redirect it) and rotates it
// by size, keeping maxFiles files in all.
type logWriter struct {
	mu       sync.Mutex
	dirfd    int
	f        *os.File
	size     int64
	maxBytes int64
	maxFiles int
	buf      []byte
	closed   bool
	now      func() time.Time
}

func openLogWriter(dirfd int, maxBytes int64, maxFiles int) (*logWriter, error) {
	w := &logWriter{dirfd: dirfd, maxBytes: maxBytes, maxFiles: max(maxFiles, 1), now: time.Now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *logWriter) open() error {
	fd, err := unix.Openat(w.dirfd, currentLog, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_CLOEXEC, 0o640)
	if err != nil {
		return &os.PathError{Op: "open", Path: currentLog, Err: err}
	}
	w.f = os.NewFile(uintptr(fd), currentLog)
	st, err := w.f.Stat()
	if err != nil {
		return err
	}
	w.size = st.Size()
	return nil
}

// record writes one record in one write(2), so a reader never sees records
// of two streams interleaved.
func (w *logWriter) record(stream string, partial bool, content []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	if w.f == nil { // a failed rotation (a full disk): try again
		if err := w.open(); err != nil {
			return err
		}
	}
	w.buf = appendRecord(w.buf[:0], w.now(), stream, partial, content)
	if w.size > 0 && w.size+int64(len(w.buf)) > w.maxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	return err
}

// rotate renames container.log.k to .k+1 (dropping the oldest) and
// container.log to .1, then starts a new container.log. A follower notices
// the rename by the inode at the path.
func (w *logWriter) rotate() error {
	w.f.Close()
	w.f = nil
	for i := w.maxFiles - 1; i >= 1; i-- {
		err := unix.Renameat(w.dirfd, rotatedName(currentLog, i-1), w.dirfd, rotatedName(currentLog, i))
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return &os.LinkError{Op: "rename", Old: rotatedName(currentLog, i-1), New: rotatedName(currentLog, i), Err: err}
		}
	}
	if w.maxFiles == 1 {
		unix.Unlinkat(w.dirfd, currentLog, 0)
	}
	return w.open()
}

func (w *logWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// copyStream copies r to w as stream's records until r ends. Write errors
// (a full disk) drop lines but keep draining r, so the container never
// blocks on its output.
func copyStream(w *logWriter, stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case len(line) > 0 && line[len(line)-1] == '\n':
			w.record(stream, false, line[:len(line)-1])
		case len(line) > 0:
			w.record(stream, true, line) // buffer full, or the last line has no newline
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

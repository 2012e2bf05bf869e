package l7

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// readError and writeError tell which side of a copy failed.
type readError struct{ err error }
type writeError struct{ err error }

func (e readError) Error() string  { return "read: " + e.err.Error() }
func (e readError) Unwrap() error  { return e.err }
func (e writeError) Error() string { return "write: " + e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

var errBadChunk = errors.New("malformed chunked encoding")

// fill makes sure src has buffered bytes. Before a read that may block it
// flushes dst, so that a stream goes out as it comes in, while what came
// in one read goes out in one write.
func fill(dst *bufio.Writer, src *bufio.Reader) error {
	if src.Buffered() > 0 {
		return nil
	}
	if dst.Buffered() > 0 {
		if err := dst.Flush(); err != nil {
			return writeError{err}
		}
	}
	if _, err := src.Peek(1); err != nil {
		return readError{err}
	}
	return nil
}

// copyN copies n bytes from src to dst, through src's buffer.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		if err := fill(dst, src); err != nil {
			if re, ok := err.(readError); ok && re.err == io.EOF {
				return readError{io.ErrUnexpectedEOF}
			}
			return err
		}
		k := int(min(int64(src.Buffered()), n))
		b, _ := src.Peek(k)
		if _, err := dst.Write(b); err != nil {
			return writeError{err}
		}
		src.Discard(k)
		n -= int64(k)
	}
	return nil
}

// copyToEOF copies src to dst until src ends, chunk-encoding the bytes
// when chunk is set.
func copyToEOF(dst *bufio.Writer, src *bufio.Reader, chunk bool) error {
	for {
		if err := fill(dst, src); err != nil {
			if re, ok := err.(readError); ok && re.err == io.EOF {
				if chunk {
					if _, err := dst.WriteString("0\r\n\r\n"); err != nil {
						return writeError{err}
					}
				}
				return nil
			}
			return err
		}
		n := src.Buffered()
		b, _ := src.Peek(n)
		if chunk {
			var size [20]byte
			h := appendHex(size[:0], uint64(n))
			h = append(h, '\r', '\n')
			if _, err := dst.Write(h); err != nil {
				return writeError{err}
			}
		}
		if _, err := dst.Write(b); err != nil {
			return writeError{err}
		}
		if chunk {
			if _, err := dst.WriteString("\r\n"); err != nil {
				return writeError{err}
			}
		}
		src.Discard(n)
	}
}

// readLine reads one line of a chunked body, at most src's buffer long,
// flushing dst first if it may block.
func readLine(dst *bufio.Writer, src *bufio.Reader) ([]byte, error) {
	if b, _ := src.Peek(src.Buffered()); bytes.IndexByte(b, '\n') < 0 && dst.Buffered() > 0 {
		if err := dst.Flush(); err != nil {
			return nil, writeError{err}
		}
	}
	line, err := src.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, readError{errBadChunk}
	case err == io.EOF:
		return nil, readError{io.ErrUnexpectedEOF}
	case err != nil:
		return nil, readError{err}
	}
	return line, nil
}

// copyChunked copies a chunked body from src to dst: as is when raw
// (only the chunk sizes are parsed; extensions and trailers pass), else
// its data only (for an HTTP/1.0 client; trailers dropped).
func copyChunked(dst *bufio.Writer, src *bufio.Reader, raw bool) error {
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		size, ok := chunkSize(line)
		if !ok {
			return readError{errBadChunk}
		}
		if raw {
			if _, err := dst.Write(line); err != nil {
				return writeError{err}
			}
		}
		if size == 0 {
			return copyTrailers(dst, src, raw)
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		line, err = readLine(dst, src)
		if err != nil {
			return err
		}
		if len(trimEOL(line)) != 0 {
			return readError{errBadChunk}
		}
		if raw {
			if _, err := dst.Write(line); err != nil {
				return writeError{err}
			}
		}
	}
}

// copyTrailers copies the trailer section up to and including its empty
// line.
func copyTrailers(dst *bufio.Writer, src *bufio.Reader, raw bool) error {
	total := 0
	for {
		line, err := readLine(dst, src)
		if err != nil {
			return err
		}
		if total += len(line); total > maxHeadBytes {
			return readError{errHeadTooLarge}
		}
		t := trimEOL(line)
		if len(t) > 0 {
			if _, ok := parseField(t, 0); !ok {
				return readError{errBadChunk}
			}
		}
		if raw {
			if _, err := dst.Write(line); err != nil {
				return writeError{err}
			}
		}
		if len(t) == 0 {
			return nil
		}
	}
}

func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'})
}

// chunkSize parses a chunk-size line: hex digits, then optional chunk
// extensions.
func chunkSize(line []byte) (int64, bool) {
	line = trimEOL(line)
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto rest
		}
		if i >= 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
rest:
	if i == 0 {
		return 0, false
	}
	for _, c := range line[i:] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return 0, false
		}
	}
	if rest := bytes.TrimLeft(line[i:], " \t"); len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	return n, true
}

func appendHex(b []byte, n uint64) []byte {
	const digits = "0123456789abcdef"
	var d [16]byte
	i := len(d)
	for {
		i--
		d[i] = digits[n&0xf]
		if n >>= 4; n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

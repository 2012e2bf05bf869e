package l7

import (
	"bufio"
	"errors"
	"io"
)

// maxHeadBytes bounds a message head (start line and header fields) on
// the fast path, requests and responses alike.
const maxHeadBytes = 64 << 10

var (
	errHeadTooLarge = errors.New("message head too large")
	errMalformed    = errors.New("malformed message")
)

// span is a [a, b) range of a head's buffer. Offsets rather than slices,
// as the buffer grows while the head is read.
type span struct{ a, b int32 }

// field is one header field: name and value (trimmed of white space).
type field struct{ name, value span }

// head is a message head as read: its lines copied into buf (line ends
// stripped), the start line and the header fields. Its slices are reused
// from one message to the next.
type head struct {
	buf    []byte
	start  span
	fields []field
}

func (h *head) bytes(s span) []byte { return h.buf[s.a:s.b] }

// read reads a head from br. It returns io.EOF when br ended before the
// first byte, io.ErrUnexpectedEOF when it ended within the head,
// errHeadTooLarge past maxHeadBytes and errMalformed for a header line
// that is not a field.
func (h *head) read(br *bufio.Reader) error {
	h.buf = h.buf[:0]
	h.fields = h.fields[:0]
	first, skipped := true, 0
	for {
		a := len(h.buf)
		for {
			frag, err := br.ReadSlice('\n')
			h.buf = append(h.buf, frag...)
			if len(h.buf) > maxHeadBytes {
				return errHeadTooLarge
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				if len(h.buf) == 0 && err == io.EOF {
					return io.EOF
				}
				if err == io.EOF {
					return io.ErrUnexpectedEOF
				}
				return err
			}
			break
		}
		b := len(h.buf) - 1 // the '\n'
		if b > a && h.buf[b-1] == '\r' {
			b--
		}
		line := h.buf[a:b]
		if first {
			if len(line) == 0 {
				// A few empty lines before a request are ignored
				// (RFC 9112, section 2.2).
				if skipped++; skipped > 4 {
					return errMalformed
				}
				h.buf = h.buf[:0]
				continue
			}
			h.start = span{int32(a), int32(b)}
			first = false
			continue
		}
		if len(line) == 0 {
			return nil
		}
		f, ok := parseField(line, int32(a))
		if !ok {
			return errMalformed
		}
		h.fields = append(h.fields, f)
	}
}

// parseField splits a header line (at offset off of its buffer) into name
// and value. Obsolete line folding, white space before the colon, a name
// that is not a token and control characters in the value are refused.
func parseField(line []byte, off int32) (field, bool) {
	colon := -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
		if !isToken(c) {
			return field{}, false
		}
	}
	if colon <= 0 {
		return field{}, false
	}
	va, vb := colon+1, len(line)
	for va < vb && (line[va] == ' ' || line[va] == '\t') {
		va++
	}
	for vb > va && (line[vb-1] == ' ' || line[vb-1] == '\t') {
		vb--
	}
	for _, c := range line[va:vb] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return field{}, false
		}
	}
	return field{name: span{off, off + int32(colon)}, value: span{off + int32(va), off + int32(vb)}}, true
}

// tokenChars marks the characters of an RFC 9110 token.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(c byte) bool { return tokenChars[c] }

// fold reports whether b equals lower (lower-case letters, digits and
// '-') regardless of case.
func fold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds tok (lower
// case), regardless of case.
func hasToken(v []byte, tok string) bool {
	found := false
	eachToken(v, func(t []byte) bool {
		found = fold(t, tok)
		return !found
	})
	return found
}

// eachToken calls f with each element of the comma-separated list v,
// trimmed, until f returns false.
func eachToken(v []byte, f func([]byte) bool) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		t := v[:i]
		for len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
			t = t[1:]
		}
		for len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
			t = t[:len(t)-1]
		}
		if len(t) > 0 && !f(t) {
			return
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// Header kinds the fast path looks at.
const (
	hOther = iota
	hConnection
	hKeepAlive
	hProxyConnection
	hProxyAuthenticate
	hProxyAuthorization
	hTE
	hTransferEncoding
	hUpgrade
	hContentLength
	hHost
	hExpect
	hXForwardedFor
	hIdempotencyKey
)

// kind classifies a header name.
func kind(name []byte) int {
	switch len(name) {
	case 2:
		if fold(name, "te") {
			return hTE
		}
	case 4:
		if fold(name, "host") {
			return hHost
		}
	case 6:
		if fold(name, "expect") {
			return hExpect
		}
	case 7:
		if fold(name, "upgrade") {
			return hUpgrade
		}
	case 10:
		switch {
		case fold(name, "connection"):
			return hConnection
		case fold(name, "keep-alive"):
			return hKeepAlive
		}
	case 14:
		if fold(name, "content-length") {
			return hContentLength
		}
	case 15:
		if fold(name, "idempotency-key") {
			return hIdempotencyKey
		}
		if fold(name, "x-forwarded-for") {
			return hXForwardedFor
		}
	case 16:
		if fold(name, "proxy-connection") {
			return hProxyConnection
		}
	case 17:
		if fold(name, "transfer-encoding") {
			return hTransferEncoding
		}
		if fold(name, "x-idempotency-key") {
			return hIdempotencyKey
		}
	case 18:
		if fold(name, "proxy-authenticate") {
			return hProxyAuthenticate
		}
	case 19:
		if fold(name, "proxy-authorization") {
			return hProxyAuthorization
		}
	}
	return hOther
}

// parseLength parses a Content-Length value: digits only.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

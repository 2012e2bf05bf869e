package l7

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
)

// errPartialResponse is a response head cut short or malformed: the
// endpoint answered something, so the request is not retried.
var errPartialResponse = errors.New("malformed or truncated response head")

// response is a parsed upstream response head, reused by the connection.
type response struct {
	head
	code       int
	minor      int
	length     int64 // Content-Length; -1 for none
	chunked    bool
	close      bool // the endpoint closes after it
	upgrade    int  // the Upgrade field's index, -1 for none
	connTokens []span
}

// read reads a response head from br. An error before the first byte is
// the read's (io.EOF, a reset: nothing came back); any later one is
// errPartialResponse.
func (r *response) read(br *bufio.Reader) error {
	if _, err := br.Peek(1); err != nil {
		return err
	}
	if err := r.head.read(br); err != nil {
		return errPartialResponse
	}
	line := r.bytes(r.start)
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return errPartialResponse
	}
	r.minor = min(int(line[7]-'0'), 1)
	r.code = 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errPartialResponse
		}
		r.code = r.code*10 + int(c-'0')
	}
	if r.code < 100 {
		return errPartialResponse
	}
	r.length, r.chunked, r.upgrade = -1, false, -1
	r.connTokens = r.connTokens[:0]
	keepAlive, closeTok := false, false
	for i, f := range r.fields {
		v := r.bytes(f.value)
		switch kind(r.bytes(f.name)) {
		case hContentLength:
			n, ok := parseLength(v)
			if !ok || (r.length >= 0 && n != r.length) {
				return errPartialResponse
			}
			r.length = n
		case hTransferEncoding:
			if r.chunked || !fold(v, "chunked") {
				return errPartialResponse
			}
			r.chunked = true
		case hConnection:
			eachToken(v, func(t []byte) bool {
				switch {
				case fold(t, "close"):
					closeTok = true
				case fold(t, "keep-alive"):
					keepAlive = true
				case fold(t, "upgrade"):
				default:
					off := int32(len(r.buf))
					r.buf = append(r.buf, t...)
					r.connTokens = append(r.connTokens, span{off, int32(len(r.buf))})
				}
				return true
			})
		case hUpgrade:
			r.upgrade = i
		}
	}
	if r.chunked {
		r.length = -1 // RFC 9112, section 6.3: chunked wins
	}
	r.close = closeTok || (r.minor == 0 && !keepAlive)
	return nil
}

// bodyless reports whether the response has no body whatever its fields
// say.
func (r *response) bodyless(head bool) bool {
	return head || r.code < 200 || r.code == http.StatusNoContent || r.code == http.StatusNotModified
}

func (r *response) listed(name []byte) bool {
	for _, t := range r.connTokens {
		if bytes.EqualFold(r.bytes(t), name) {
			return true
		}
	}
	return false
}

// appendClient appends the head to send the client, without the final
// empty line: the status line as HTTP/1.1 and the end-to-end fields,
// with neither framing nor Connection (the caller adds those).
func (r *response) appendClient(b []byte, upgrade bool) []byte {
	b = append(b, "HTTP/1.1"...)
	b = append(b, r.bytes(r.start)[8:]...)
	b = append(b, "\r\n"...)
	for _, f := range r.fields {
		name := r.bytes(f.name)
		switch kind(name) {
		case hConnection, hKeepAlive, hProxyConnection, hProxyAuthenticate, hProxyAuthorization,
			hTE, hTransferEncoding, hContentLength:
			continue
		case hUpgrade:
			if !upgrade {
				continue
			}
		}
		if len(r.connTokens) > 0 && r.listed(name) {
			continue
		}
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, r.bytes(f.value)...)
		b = append(b, "\r\n"...)
	}
	return b
}

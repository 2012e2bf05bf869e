package l7

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
)

// requestError is a request the fast path refuses: the status to answer
// before closing the connection.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(msg string) error { return &requestError{http.StatusBadRequest, msg} }

// request is a parsed HTTP/1.x request head, reused by the connection's
// next request.
type request struct {
	head
	method, target span
	authority      span  // of a target in absolute form, which goes on in origin form
	slash          bool  // the origin form needs a leading "/"
	minor          int   // HTTP/1.minor, 0 or 1
	host           int   // the Host field's index, -1 for none
	length         int64 // Content-Length; -1 for none
	chunked        bool
	close          bool // no keep-alive asked for
	upgrade        int  // the Upgrade field's index when Connection lists upgrade, else -1
	expect         bool // Expect: 100-continue
	teTrailers     bool
	idemKey        bool
	connTokens     []span // the field names Connection lists
}

// parseRequest reads a request head from br. Errors are io.EOF before a
// first byte, a *requestError for a request to refuse, or the read's.
func (r *request) parse(br *bufio.Reader) error {
	if err := r.head.read(br); err != nil {
		switch {
		case errors.Is(err, errHeadTooLarge):
			return &requestError{http.StatusRequestHeaderFieldsTooLarge, "request header fields too large"}
		case errors.Is(err, errMalformed):
			return badRequest("malformed header field")
		}
		return err
	}
	if err := r.parseLine(); err != nil {
		return err
	}
	r.host, r.upgrade, r.length = -1, -1, -1
	r.chunked, r.expect, r.teTrailers, r.idemKey = false, false, false, false
	r.connTokens = r.connTokens[:0]
	keepAlive, closeTok, upgradeTok := false, false, false
	upgradeField := -1
	for i, f := range r.fields {
		v := r.bytes(f.value)
		switch kind(r.bytes(f.name)) {
		case hHost:
			if r.host >= 0 {
				return badRequest("too many Host headers")
			}
			r.host = i
		case hContentLength:
			n, ok := parseLength(v)
			if !ok || (r.length >= 0 && n != r.length) {
				return badRequest("bad Content-Length")
			}
			r.length = n
		case hTransferEncoding:
			if r.chunked || !fold(v, "chunked") {
				return &requestError{http.StatusNotImplemented, "unsupported transfer encoding"}
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
					upgradeTok = true
				default:
					off := int32(len(r.buf))
					r.buf = append(r.buf, t...)
					r.connTokens = append(r.connTokens, span{off, int32(len(r.buf))})
				}
				return true
			})
		case hUpgrade:
			upgradeField = i
		case hExpect:
			if !fold(v, "100-continue") {
				return &requestError{http.StatusExpectationFailed, "unsupported expectation"}
			}
			r.expect = true
		case hTE:
			r.teTrailers = hasToken(v, "trailers")
		case hIdempotencyKey:
			r.idemKey = len(v) > 0
		}
	}
	if r.chunked && r.length >= 0 {
		return badRequest("both Transfer-Encoding and Content-Length")
	}
	if r.minor == 1 && r.host < 0 {
		return badRequest("missing Host header")
	}
	r.close = closeTok || (r.minor == 0 && !keepAlive)
	if upgradeTok && upgradeField >= 0 {
		r.upgrade = upgradeField
	}
	return nil
}

// parseLine parses the request line: method SP target SP HTTP/1.x.
func (r *request) parseLine() error {
	line := r.bytes(r.start)
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return badRequest("malformed request line")
	}
	for _, c := range line[:sp1] {
		if !isToken(c) {
			return badRequest("malformed method")
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return badRequest("malformed request line")
	}
	for _, c := range rest[:sp2] {
		if c <= ' ' || c == 0x7f {
			return badRequest("malformed request target")
		}
	}
	v := rest[sp2+1:]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return badRequest("malformed HTTP version")
	}
	if v[5] != '1' {
		return &requestError{http.StatusHTTPVersionNotSupported, "unsupported HTTP version"}
	}
	r.minor = min(int(v[7]-'0'), 1)
	a := r.start.a
	r.method = span{a, a + int32(sp1)}
	r.target = span{a + int32(sp1) + 1, a + int32(sp1+1+sp2)}
	r.authority, r.slash = span{}, false
	// An absolute-form target goes on in origin form with its authority
	// as Host, as net/http makes of it.
	t := r.bytes(r.target)
	scheme := 0
	switch {
	case len(t) > 7 && fold(t[:7], "http://"):
		scheme = 7
	case len(t) > 8 && fold(t[:8], "https://"):
		scheme = 8
	}
	if scheme > 0 {
		end := scheme
		for end < len(t) && t[end] != '/' && t[end] != '?' {
			end++
		}
		if end == scheme {
			return badRequest("malformed request target")
		}
		r.authority = span{r.target.a + int32(scheme), r.target.a + int32(end)}
		r.target.a += int32(end)
		r.slash = end == len(t) || t[end] == '?'
	}
	return nil
}

// idempotent is idempotent in transport.go for the fast path.
func (r *request) idempotent() bool {
	switch string(r.bytes(r.method)) {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return r.idemKey
}

// hasBody reports whether the request has a body to forward.
func (r *request) hasBody() bool { return r.chunked || r.length > 0 }

func (r *request) isHead() bool { return string(r.bytes(r.method)) == http.MethodHead }

// listed reports whether Connection lists the field name.
func (r *request) listed(name []byte) bool {
	for _, t := range r.connTokens {
		if bytes.EqualFold(r.bytes(t), name) {
			return true
		}
	}
	return false
}

// appendUpstream appends the head to send upstream, without the final
// empty line: the request line as HTTP/1.1, the end-to-end fields, the
// framing, and X-Forwarded-For with client (the peer's IP) appended.
// Like ReverseProxy it drops hop-by-hop fields, keeps TE: trailers and
// Upgrade on an upgrade, and passes Forwarded and X-Forwarded-Host/Proto
// as sent.
func (r *request) appendUpstream(b []byte, client string) []byte {
	b = append(b, r.bytes(r.method)...)
	b = append(b, ' ')
	if r.slash {
		b = append(b, '/')
	}
	b = append(b, r.bytes(r.target)...)
	b = append(b, " HTTP/1.1\r\n"...)
	if r.host < 0 && r.authority.b > 0 {
		b = append(b, "Host: "...)
		b = append(b, r.bytes(r.authority)...)
		b = append(b, "\r\n"...)
	}
	for _, f := range r.fields {
		name := r.bytes(f.name)
		switch kind(name) {
		case hConnection, hKeepAlive, hProxyConnection, hProxyAuthenticate, hProxyAuthorization,
			hTE, hTransferEncoding, hUpgrade, hExpect, hContentLength, hXForwardedFor:
			continue
		case hHost:
			// Kept even if Connection lists it, as net/http keeps req.Host.
			if r.authority.b > 0 {
				b = append(b, name...)
				b = append(b, ": "...)
				b = append(b, r.bytes(r.authority)...)
				b = append(b, "\r\n"...)
				continue
			}
		default:
			if len(r.connTokens) > 0 && r.listed(name) {
				continue
			}
		}
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, r.bytes(f.value)...)
		b = append(b, "\r\n"...)
	}
	if client != "" {
		b = append(b, "X-Forwarded-For: "...)
		for _, f := range r.fields {
			if kind(r.bytes(f.name)) == hXForwardedFor {
				b = append(b, r.bytes(f.value)...)
				b = append(b, ", "...)
			}
		}
		b = append(b, client...)
		b = append(b, "\r\n"...)
	}
	switch {
	case r.chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case r.length >= 0:
		b = append(b, "Content-Length: "...)
		b = appendInt(b, r.length)
		b = append(b, "\r\n"...)
	}
	if r.teTrailers {
		b = append(b, "Te: trailers\r\n"...)
	}
	if r.upgrade >= 0 {
		b = append(b, "Connection: Upgrade\r\nUpgrade: "...)
		b = append(b, r.bytes(r.fields[r.upgrade].value)...)
		b = append(b, "\r\n"...)
	}
	return b
}

func appendInt(b []byte, n int64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

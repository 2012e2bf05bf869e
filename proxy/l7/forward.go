package l7

import (
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/shoalmesh/shoal/proxy/balancer"
)

// maxDiscard is how much of an unread request body the proxy reads away
// after an error answer to keep the connection; past it, it closes.
const maxDiscard = 256 << 10

// forward sends the request to an endpoint, retrying as transport.go
// does, and answers the client. It returns the final status written (0
// for none) and whether the connection may serve another request.
func (c *clientConn) forward() (code int, keep bool) {
	p, r := c.p, &c.req
	c.out = r.appendUpstream(c.out[:0], c.client)
	c.sentContinue, c.bodyRead, c.mustClose = false, false, false
	c.gone.Store(false)
	var failedBuf [4]netip.AddrPort
	failed := failedBuf[:0]
	exclude := func(a netip.AddrPort) bool { return slices.Contains(failed, a) }
	var lastErr error
	for attempt := range p.opts.Retries + 1 {
		var h *balancer.Host
		var ok bool
		if len(failed) == 0 {
			h, ok = p.cluster.Pick(nil)
		} else {
			h, ok = p.cluster.Pick(exclude)
		}
		if !ok {
			break
		}
		if attempt > 0 {
			p.m.retries.Inc()
		}
		h.Begin()
		code, keep, err := c.exchange(h)
		if err == nil {
			return code, keep
		}
		h.End()
		if isClient(err) || c.gone.Load() || p.ctx.Err() != nil {
			// The client left or Shutdown aborted: the endpoint is not at
			// fault, and no one is to be answered.
			return 0, false
		}
		h.Report(false)
		switch {
		case neverSent(err):
			p.m.errConnect.Inc()
			p.log.Debug("connect failed", "endpoint", h.Addr().String(), "err", err)
		case isReset(err) && !errors.Is(err, errPartialResponse):
			p.m.errReset.Inc()
			if !r.idempotent() || c.bodyRead {
				return c.fail(err)
			}
			p.log.Debug("connection reset before the response", "endpoint", h.Addr().String(),
				"method", string(r.bytes(r.method)), "err", err)
		default:
			p.m.errOther.Inc()
			return c.fail(err)
		}
		failed = append(failed, h.Addr())
		lastErr = err
	}
	if lastErr == nil {
		p.m.errNoEndpoint.Inc()
		return c.answerError(http.StatusServiceUnavailable, "no healthy upstream")
	}
	return c.fail(lastErr)
}

// fail answers a request that got no response, as proxyError does.
func (c *clientConn) fail(err error) (int, bool) {
	c.p.log.Debug("request failed", "client", c.client, "method", string(c.req.bytes(c.req.method)), "err", err)
	if neverSent(err) {
		return c.answerError(http.StatusServiceUnavailable, "upstream connect error")
	}
	return c.answerError(http.StatusBadGateway, "bad gateway")
}

// exchange sends the request to h and forwards the response. It returns
// an error only when nothing of a response reached the client; then the
// caller ends h's request.
func (c *clientConn) exchange(h *balancer.Host) (int, bool, error) {
	p, r := c.p, &c.req
	replayable := !r.hasBody() && r.idempotent()
	for try := 0; ; try++ {
		up, reused, err := p.pools.get(p.ctx, h.Addr(), try > 0, !replayable)
		if err != nil {
			return 0, false, err
		}
		c.up.Store(up)
		if p.ctx.Err() != nil {
			up.nc.Close()
		}
		sent := time.Now()
		err = c.send(up)
		if err == nil || (!isClient(err) && c.bodyRead) {
			// After a failed upload the endpoint may have answered
			// already (413, 401...): that answer goes to the client.
			c.waiting.Store(sent.UnixNano())
			rerr := c.readResponse(up)
			switch {
			case err == nil:
				err = rerr
			case rerr == nil:
				c.mustClose = true // the rest of the body is unread
				err = nil
			}
		}
		if err != nil {
			c.unwatch()
			c.up.Store(nil)
			up.close()
			// A pooled connection the endpoint had closed: once more on a
			// fresh one, as net/http does, if the request is replayable or
			// nothing went out.
			if try == 0 && reused && !isClient(err) && !c.gone.Load() && isReset(err) && !errors.Is(err, errPartialResponse) &&
				!c.bodyRead && (replayable || c.headWriteFailed) {
				continue
			}
			return 0, false, err
		}
		// Time to the response head: what a least-request pick weighs
		// this host's active requests by.
		h.Observe(time.Since(sent))
		switch c.res.code {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			h.Report(false)
		default:
			h.Report(true)
		}
		code, keep := c.respond(up, h)
		return code, keep, nil
	}
}

// send writes the request head and body to up.
func (c *clientConn) send(up *upConn) error {
	r := &c.req
	c.headWriteFailed = false
	bw := up.bw
	bw.Write(c.out)
	if r.host < 0 && r.authority.b == 0 {
		bw.WriteString("Host: ")
		bw.WriteString(up.pool.addr)
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	if !r.hasBody() {
		if err := bw.Flush(); err != nil {
			c.headWriteFailed = true
			return err
		}
		return nil
	}
	if r.expect && !c.sentContinue && r.minor == 1 {
		c.sentContinue = true
		c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := c.bw.Flush(); err != nil {
			return clientError{err}
		}
	}
	c.bodyRead = true
	if c.bw.Buffered() > 0 {
		// Responses held back for pipelined requests go out before the
		// body may block.
		if err := c.bw.Flush(); err != nil {
			return clientError{err}
		}
	}
	if !c.rdl.IsZero() {
		// A body takes as long as it takes, as with net/http.
		c.setReadDeadline(time.Time{})
	}
	var err error
	if r.chunked {
		err = copyChunked(bw, c.br, true)
	} else {
		err = copyN(bw, c.br, r.length)
	}
	if err == nil {
		err = bw.Flush()
	}
	switch e := err.(type) {
	case readError:
		return clientError(e)
	case writeError:
		return e.err
	}
	return err
}

// errUnexpectedUpgrade is a 101 answer to a request that asked for no
// upgrade.
var errUnexpectedUpgrade = errors.New("101 Switching Protocols without an upgrade request")

// readResponse reads the response head from up, forwarding informational
// responses (but 100 Continue, which the proxy answered itself) to an
// HTTP/1.1 client.
func (c *clientConn) readResponse(up *upConn) error {
	interim := false
	for {
		err := c.res.read(up.br)
		if err != nil {
			if interim {
				return errPartialResponse
			}
			return err
		}
		code := c.res.code
		if code == http.StatusSwitchingProtocols && c.req.upgrade < 0 {
			return errUnexpectedUpgrade
		}
		if code >= 200 || code == http.StatusSwitchingProtocols {
			return nil
		}
		interim = true
		if code != http.StatusContinue && c.req.minor == 1 {
			c.hbuf = append(c.res.appendClient(c.hbuf[:0], false), "\r\n"...)
			c.bw.Write(c.hbuf)
			if err := c.bw.Flush(); err != nil {
				return clientError{err}
			}
		}
	}
}

// How a response's body goes to the client.
const (
	bodyNone = iota
	bodyLength
	bodyChunked    // chunked as it came
	bodyDechunked  // chunked upstream, to an HTTP/1.0 client
	bodyToEOF      // until the endpoint closes, to an HTTP/1.0 client
	bodyToEOFChunk // until the endpoint closes, chunked to an HTTP/1.1 client
	bodyUpgrade
)

// respond writes the response whose head was read to the client, then its
// body; it pools or closes up and ends h's request.
func (c *clientConn) respond(up *upConn, h *balancer.Host) (int, bool) {
	p, r, s := c.p, &c.req, &c.res
	keep := !r.close && !c.mustClose && !p.closing.Load()
	mode := bodyNone
	switch {
	case s.code == http.StatusSwitchingProtocols:
		mode, keep = bodyUpgrade, false
	case s.bodyless(r.isHead()):
	case s.chunked && r.minor == 1:
		mode = bodyChunked
	case s.chunked:
		mode, keep = bodyDechunked, false
	case s.length >= 0:
		mode = bodyLength
	case r.minor == 1:
		mode = bodyToEOFChunk
	default:
		mode, keep = bodyToEOF, false
	}
	b := s.appendClient(c.hbuf[:0], mode == bodyUpgrade)
	switch {
	case mode == bodyChunked || mode == bodyToEOFChunk:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case s.length >= 0 && (mode == bodyLength || (mode == bodyNone && s.code >= 200)):
		b = append(b, "Content-Length: "...)
		b = appendInt(b, s.length)
		b = append(b, "\r\n"...)
	}
	switch {
	case mode == bodyUpgrade:
		b = append(b, "Connection: Upgrade\r\n"...)
	case !keep:
		b = append(b, "Connection: close\r\n"...)
	case r.minor == 0:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	c.hbuf = b
	_, err := c.bw.Write(b)
	if err != nil {
		err = writeError{err}
	}
	if err == nil {
		switch mode {
		case bodyLength:
			err = copyN(c.bw, up.br, s.length)
		case bodyChunked, bodyDechunked:
			err = copyChunked(c.bw, up.br, mode == bodyChunked)
		case bodyToEOF, bodyToEOFChunk:
			err = copyToEOF(c.bw, up.br, mode == bodyToEOFChunk)
		case bodyUpgrade:
			c.unwatch()
			if err = c.bw.Flush(); err == nil {
				c.tunnel(up)
			} else {
				err = writeError{err}
			}
		}
	}
	c.unwatch()
	c.up.Store(nil)
	if err == nil && mode != bodyUpgrade && mode != bodyToEOF && mode != bodyToEOFChunk && !s.close {
		p.pools.put(up)
	} else {
		up.close()
	}
	h.End()
	if err != nil {
		// Either side broke off mid-response: the client cannot be told
		// but by closing.
		p.log.Debug("response cut", "client", c.client, "endpoint", h.Addr().String(), "err", err)
		return s.code, false
	}
	if !keep || c.br.Buffered() == 0 {
		// Pipelined requests' responses go out together.
		if err := c.bw.Flush(); err != nil {
			return s.code, false
		}
	}
	return s.code, keep
}

// tunnel copies bytes both ways between the client and up after a 101,
// until either side closes.
func (c *clientConn) tunnel(up *upConn) {
	c.setReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		up.br.WriteTo(c.nc)
		c.nc.Close()
	}()
	c.br.WriteTo(up.nc)
	up.nc.Close()
	<-done
}

// answerError answers a request that got no response, as http.Error
// does. The connection stays if the request body is read, or small
// enough to read away.
func (c *clientConn) answerError(code int, msg string) (int, bool) {
	r := &c.req
	keep := !r.close && !c.p.closing.Load() && !c.mustClose
	if keep && r.hasBody() && !c.bodyRead {
		keep = !r.expect && r.length >= 0 && r.length <= maxDiscard && c.discard(r.length)
	} else if c.bodyRead && r.hasBody() {
		keep = false // it broke off mid-body
	}
	b := append(c.hbuf[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: "...)
	b = appendInt(b, int64(len(msg)+1))
	b = append(b, "\r\n"...)
	if !keep {
		b = append(b, "Connection: close\r\n"...)
		c.linger = r.hasBody()
	}
	b = append(b, "\r\n"...)
	if !r.isHead() {
		b = append(b, msg...)
		b = append(b, '\n')
	}
	c.hbuf = b
	c.bw.Write(b)
	if err := c.bw.Flush(); err != nil {
		return 0, false
	}
	return code, keep
}

// discard reads n bytes of request body away.
func (c *clientConn) discard(n int64) bool {
	_, err := c.br.Discard(int(n))
	return err == nil
}

// answerRaw refuses a request the proxy could not parse, and the
// connection closes.
func (c *clientConn) answerRaw(code int, msg string) {
	b := append(c.hbuf[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"...)
	b = append(b, strconv.Itoa(code)...)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, ": "...)
	b = append(b, msg...)
	c.hbuf = b
	c.bw.Write(b)
	c.bw.Flush()
	c.linger = true
}

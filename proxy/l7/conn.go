package l7

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// A client connection's state, for Shutdown: idle ones (waiting for a
// request) are closed at once, active ones when their response is done.
const (
	connIdle int32 = iota
	connActive
	connClosed
)

// clientConn is one client connection on the fast path, served by one
// goroutine: it reads a request, forwards it over a pooled endpoint
// connection that it owns until the response is done, and reads the
// next.
type clientConn struct {
	p      *Proxy
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	client string // the peer's IP, for X-Forwarded-For
	state  atomic.Int32
	up     atomic.Pointer[upConn] // in use, for Shutdown to abort
	rdl    time.Time              // nc's read deadline

	// waiting is when the request went upstream (Unix ns) while its
	// response is awaited, -1 while a watcher reads the client's
	// connection, 0 otherwise; gone is set by a watcher that saw the
	// client leave.
	waiting   atomic.Int64
	gone      atomic.Bool
	watchDone chan struct{}

	req  request
	res  response
	out  []byte // the request head for the endpoint
	hbuf []byte // the response head for the client

	// Per request.
	sentContinue    bool
	bodyRead        bool // reading of the request body began
	headWriteFailed bool
	mustClose       bool // the request body is left half read
	linger          bool // unread input: close as closeWriteAndWait does
}

// clientError is a failure on the client's side: there is no one to
// answer.
type clientError struct{ err error }

func (e clientError) Error() string { return "client: " + e.err.Error() }
func (e clientError) Unwrap() error { return e.err }

func isClient(err error) bool {
	var ce clientError
	return errors.As(err, &ce)
}

// track registers a new client connection; false after Shutdown.
func (p *Proxy) track(c *clientConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return false
	}
	p.conns[c] = struct{}{}
	p.connWG.Add(1)
	return true
}

func (p *Proxy) untrack(c *clientConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	p.connWG.Done()
}

// serve runs the connection until it closes; h2 gets it if it turns out
// to be HTTP/2.
func (c *clientConn) serve(h2 *connListener) {
	defer c.p.untrack(c)
	c.br = clientReaders.reader(c.nc)
	c.watchDone = make(chan struct{}, 1)
	// A new connection is idle until its first byte, which must come
	// within ReadHeaderTimeout.
	c.setReadDeadline(time.Now().Add(readHeaderTimeout))
	if _, err := c.br.Peek(1); err != nil || !c.state.CompareAndSwap(connIdle, connActive) {
		c.close()
		return
	}
	if ok, err := c.isPreface(); err != nil {
		c.close()
		return
	} else if ok {
		b, _ := c.br.Peek(c.br.Buffered())
		pc := &peekedConn{Conn: c.nc, buf: bytes.Clone(b)}
		clientReaders.putReader(c.br)
		c.br = nil
		c.nc.SetReadDeadline(time.Time{})
		if !h2.push(pc) {
			c.nc.Close()
		}
		return
	}
	if host, _, err := net.SplitHostPort(c.nc.RemoteAddr().String()); err == nil {
		c.client = host
	}
	for c.serveRequest() && c.wait() {
	}
	c.close()
}

func (c *clientConn) close() {
	c.state.Store(connClosed)
	if c.linger {
		c.lingeringClose()
	}
	c.nc.Close()
	clientReaders.putReader(c.br)
	clientWriters.putWriter(c.bw)
	c.br, c.bw = nil, nil
}

// lingeringClose half-closes and reads away what the client still
// sends for a while, so that the answer is not lost to a reset.
func (c *clientConn) lingeringClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	c.br.Discard(c.br.Buffered())
	io.Copy(io.Discard, io.LimitReader(c.nc, maxDiscard))
}

// lingerTime is net/http's rstAvoidanceDelay.
const lingerTime = 500 * time.Millisecond

// abort cuts the connection and its endpoint connection at Shutdown's
// deadline.
func (c *clientConn) abort() {
	c.nc.Close()
	if u := c.up.Load(); u != nil {
		u.nc.Close()
	}
}

// watchAfter is how long a request waits for its response before its
// client's connection is watched; watchTick how often the proxy looks.
const (
	watchAfter = time.Second
	watchTick  = watchAfter / 2
)

// watchClients starts a watcher for each request that waited longer than
// watchAfter, until stop is closed.
func (p *Proxy) watchClients(stop <-chan struct{}) {
	t := time.NewTicker(watchTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			limit := now.Add(-watchAfter).UnixNano()
			p.mu.Lock()
			for c := range p.conns {
				if v := c.waiting.Load(); v > 0 && v < limit && c.waiting.CompareAndSwap(v, -1) {
					go c.watch()
				}
			}
			p.mu.Unlock()
		}
	}
}

// watch reads the client's connection while the connection's goroutine
// waits on the endpoint: an end or an error other than the deadline that
// unwatch sets means the client left, and the endpoint's connection is
// cut. Bytes that come (a pipelined request) stay in the reader.
func (c *clientConn) watch() {
	defer func() { c.watchDone <- struct{}{} }()
	_, err := c.br.Peek(1)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.gone.Store(true)
		if u := c.up.Load(); u != nil {
			u.nc.Close()
		}
	}
}

// unwatch ends the request's wait, stopping its watcher if one runs;
// then the reader is the connection goroutine's again.
func (c *clientConn) unwatch() {
	if c.waiting.Swap(0) != -1 {
		return
	}
	c.nc.SetReadDeadline(aLongTimeAgo)
	<-c.watchDone
	c.nc.SetReadDeadline(c.rdl)
}

var aLongTimeAgo = time.Unix(1, 0)

func (c *clientConn) setReadDeadline(t time.Time) {
	c.rdl = t
	c.nc.SetReadDeadline(t)
}

// wait waits for the first byte of the next request; false when the
// connection is to close.
func (c *clientConn) wait() bool {
	if c.br.Buffered() > 0 {
		return true // pipelined
	}
	c.state.Store(connIdle)
	if c.p.closing.Load() {
		return false
	}
	// An idle connection holds no writer.
	clientWriters.putWriter(c.bw)
	c.bw = nil
	// The idle timeout is an hour: a deadline still most of an hour away
	// will do, sparing a timer update per request.
	if now := time.Now(); c.rdl.Sub(now) < idleTimeout-time.Minute {
		c.setReadDeadline(now.Add(idleTimeout))
	}
	if _, err := c.br.Peek(1); err != nil {
		return false
	}
	return c.state.CompareAndSwap(connIdle, connActive)
}

// maxKeptHead is the largest head buffer a connection keeps for its next
// message.
const maxKeptHead = 8 << 10

// endOfHead finds the end of a message head.
var endOfHead, endOfBareHead = []byte("\n\r\n"), []byte("\n\n")

// serveRequest serves one request; false when the connection is to close.
func (c *clientConn) serveRequest() bool {
	p := c.p
	if c.bw == nil {
		c.bw = clientWriters.writer(c.nc)
	}
	if b, _ := c.br.Peek(c.br.Buffered()); !bytes.Contains(b, endOfHead) && !bytes.Contains(b, endOfBareHead) {
		// The head takes more reads: they get ReadHeaderTimeout, and the
		// responses held back for pipelined requests go out first.
		if c.bw.Buffered() > 0 && c.bw.Flush() != nil {
			return false
		}
		c.setReadDeadline(time.Now().Add(readHeaderTimeout))
	}
	if c.bw == nil {
		c.bw = clientWriters.writer(c.nc)
	}
	if err := c.req.parse(c.br); err != nil {
		var re *requestError
		if errors.As(err, &re) {
			c.answerRaw(re.code, re.msg)
		}
		return false
	}
	start := time.Now()
	p.m.active.Inc()
	code, keep := c.forward()
	p.m.active.Dec()
	p.m.duration.Observe(time.Since(start).Seconds())
	p.m.requests[class(code, p.ctx.Err() != nil)].Inc()
	if cap(c.req.buf) > maxKeptHead {
		c.req.buf = nil // a rare large head is not kept while the connection idles
	}
	if cap(c.res.buf) > maxKeptHead {
		c.res.buf = nil
	}
	return keep && !p.closing.Load()
}

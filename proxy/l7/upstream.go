package l7

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

const (
	// upstreamIdleTimeout closes pooled endpoint connections unused this
	// long, as the net/http Transport's IdleConnTimeout did.
	upstreamIdleTimeout = 90 * time.Second
	// staleCheckAfter is how long a pooled connection may idle before it
	// is checked for a close by the endpoint (a non-blocking peek) ahead
	// of a request that could not be retried on a fresh one.
	staleCheckAfter = 100 * time.Millisecond
)

// upConn is a connection to an endpoint, owned by one client connection
// during a request and pooled in between.
type upConn struct {
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	pool   *hostPool
	idleAt time.Time
}

func (u *upConn) close() {
	u.nc.Close()
	upReaders.putReader(u.br)
	upWriters.putWriter(u.bw)
	u.br, u.bw = nil, nil
}

// hostPool holds one endpoint's idle connections, most recent last.
type hostPool struct {
	addr string
	mu   sync.Mutex
	idle []*upConn
}

// pools are the fast path's keep-alive pools, by endpoint.
type pools struct {
	dialer net.Dialer
	m      sync.Map // netip.AddrPort → *hostPool
	mu     sync.Mutex
	closed bool
	sweep  *time.Timer
}

func (ps *pools) host(a netip.AddrPort) *hostPool {
	if hp, ok := ps.m.Load(a); ok {
		return hp.(*hostPool)
	}
	hp, _ := ps.m.LoadOrStore(a, &hostPool{addr: a.String()})
	return hp.(*hostPool)
}

// get returns a pooled connection to a (reused true) or, with none or
// fresh set, dials one.
func (ps *pools) get(ctx context.Context, a netip.AddrPort, fresh, check bool) (*upConn, bool, error) {
	hp := ps.host(a)
	if !fresh {
		for {
			hp.mu.Lock()
			n := len(hp.idle)
			if n == 0 {
				hp.mu.Unlock()
				break
			}
			u := hp.idle[n-1]
			hp.idle[n-1] = nil
			hp.idle = hp.idle[:n-1]
			hp.mu.Unlock()
			idle := time.Since(u.idleAt)
			if idle > upstreamIdleTimeout || (check && idle > staleCheckAfter && !alive(u.nc)) {
				u.close()
				continue
			}
			return u, true, nil
		}
	}
	nc, err := ps.dialer.DialContext(ctx, "tcp", hp.addr)
	if err != nil {
		return nil, false, &dialError{err: err}
	}
	return &upConn{nc: nc, br: upReaders.reader(nc), bw: upWriters.writer(nc), pool: hp}, false, nil
}

// put pools u, or closes it when the pool is full or closed.
func (ps *pools) put(u *upConn) {
	if u.br.Buffered() > 0 {
		u.close() // the endpoint sent more than its response
		return
	}
	u.idleAt = time.Now()
	hp := u.pool
	hp.mu.Lock()
	if len(hp.idle) >= maxIdlePerEndpoint {
		hp.mu.Unlock()
		u.close()
		return
	}
	hp.idle = append(hp.idle, u)
	hp.mu.Unlock()
	ps.startSweep()
}

// startSweep arms the timer that closes connections idle too long.
func (ps *pools) startSweep() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed || ps.sweep != nil {
		return
	}
	ps.sweep = time.AfterFunc(upstreamIdleTimeout/3, ps.sweepIdle)
}

// sweepIdle closes the connections idle longer than upstreamIdleTimeout
// and rearms while any are pooled.
func (ps *pools) sweepIdle() {
	left := false
	ps.m.Range(func(k, v any) bool {
		hp := v.(*hostPool)
		hp.mu.Lock()
		var old []*upConn
		i := 0
		for i < len(hp.idle) && time.Since(hp.idle[i].idleAt) > upstreamIdleTimeout {
			i++
		}
		if i > 0 {
			old = append(old, hp.idle[:i]...)
			n := copy(hp.idle, hp.idle[i:])
			clear(hp.idle[n:])
			hp.idle = hp.idle[:n]
		}
		if len(hp.idle) > 0 {
			left = true
		}
		hp.mu.Unlock()
		for _, u := range old {
			u.close()
		}
		return true
	})
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed || !left {
		ps.sweep = nil
		return
	}
	ps.sweep.Reset(upstreamIdleTimeout / 3)
}

// close closes every pooled connection; put closes the later ones.
func (ps *pools) close() {
	ps.mu.Lock()
	ps.closed = true
	if ps.sweep != nil {
		ps.sweep.Stop()
	}
	ps.mu.Unlock()
	ps.m.Range(func(k, v any) bool {
		hp := v.(*hostPool)
		hp.mu.Lock()
		idle := hp.idle
		hp.idle = nil
		hp.mu.Unlock()
		for _, u := range idle {
			u.close()
		}
		return true
	})
}

// Buffer sizes: a client's requests are small (a head outgrowing the
// reader is gathered in the request's own buffer) and its responses come
// through the writer, which is pooled while the connection idles; an
// endpoint's responses are read in large pieces.
var (
	clientReaders = bufPool{size: 4 << 10}
	clientWriters = bufPool{size: 16 << 10}
	upReaders     = bufPool{size: 16 << 10}
	upWriters     = bufPool{size: 8 << 10}
)

// bufPool lends bufio readers or writers of one size.
type bufPool struct {
	size int
	r, w sync.Pool
}

func (p *bufPool) reader(rd io.Reader) *bufio.Reader {
	if v := p.r.Get(); v != nil {
		br := v.(*bufio.Reader)
		br.Reset(rd)
		return br
	}
	return bufio.NewReaderSize(rd, p.size)
}

func (p *bufPool) putReader(br *bufio.Reader) {
	if br != nil {
		br.Reset(nil)
		p.r.Put(br)
	}
}

func (p *bufPool) writer(w io.Writer) *bufio.Writer {
	if v := p.w.Get(); v != nil {
		bw := v.(*bufio.Writer)
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, p.size)
}

func (p *bufPool) putWriter(bw *bufio.Writer) {
	if bw != nil {
		bw.Reset(nil)
		p.w.Put(bw)
	}
}

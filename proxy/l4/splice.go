package l4

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// chunk is how much one ReadFrom may move before the idle bookkeeping
// runs. Big enough that splice(2) does the work, small enough that a
// busy connection re-arms its deadline often.
const chunk = 256 << 10

var errIdle = errors.New("idle timeout")

// idleness tracks, per direction, whether the last deadline passed with
// no bytes; the connection is idle when both did.
type idleness [2]atomic.Bool

func (s *idleness) progress(dir int) {
	if s[dir].Load() {
		s[dir].Store(false)
	}
}

// quiet marks dir idle and reports whether the other direction is too.
func (s *idleness) quiet(dir int) bool {
	s[dir].Store(true)
	return s[1-dir].Load()
}

// splice copies both ways until both directions end, passing a half-close
// on. An error or the idle timeout on either side closes both.
func (p *Proxy) splice(client, upstream net.Conn) error {
	var idle idleness
	errc := make(chan error, 1)
	go func() {
		errc <- p.pipe(upstream, client, &idle, 0, p.m.bytesUpstream)
	}()
	err := p.pipe(client, upstream, &idle, 1, p.m.bytesDownstream)
	if err != nil {
		// Unblock the other direction.
		client.Close()
		upstream.Close()
	}
	err2 := <-errc
	if err2 != nil && err == nil {
		err = err2
	}
	return err
}

// pipe copies src to dst in chunks, through dst's ReadFrom, which splices
// between TCP sockets. At src's EOF it half-closes dst.
func (p *Proxy) pipe(dst, src net.Conn, idle *idleness, dir int, bytes prometheus.Counter) error {
	lr := &io.LimitedReader{R: src}
	for {
		if err := src.SetReadDeadline(time.Now().Add(p.opts.IdleTimeout)); err != nil {
			return p.fail(dst, src, err)
		}
		lr.N = chunk
		n, err := io.Copy(dst, lr)
		if n > 0 {
			bytes.Add(float64(n))
			idle.progress(dir)
		}
		switch {
		case err == nil && lr.N > 0: // EOF
			idle.quiet(dir) // a finished direction never holds the other open
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				if err := cw.CloseWrite(); err != nil {
					return p.fail(dst, src, err)
				}
				return nil
			}
			return p.fail(dst, src, nil)
		case err == nil: // chunk full
		case errors.Is(err, os.ErrDeadlineExceeded):
			if n == 0 && idle.quiet(dir) {
				return p.fail(dst, src, errIdle)
			}
		default:
			return p.fail(dst, src, err)
		}
	}
}

// fail closes both connections so the other direction stops too.
func (p *Proxy) fail(dst, src net.Conn, err error) error {
	dst.Close()
	src.Close()
	return err
}

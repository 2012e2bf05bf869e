package l7

import (
	"bytes"
	"net"
	"sync"
)

// h2Preface opens an HTTP/2 connection with prior knowledge (h2c).
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// connListener hands the connections that open with the HTTP/2 preface
// to the net/http server, which serves h2c.
type connListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// push hands c to the server; false once the listener is closed.
func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// peekedConn replays the bytes read ahead of the server.
type peekedConn struct {
	net.Conn
	buf []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// isPreface reads as far as needed to tell an HTTP/2 preface from an
// HTTP/1 request.
func (c *clientConn) isPreface() (bool, error) {
	for {
		b, _ := c.br.Peek(min(c.br.Buffered(), len(h2Preface)))
		if !bytes.HasPrefix(h2Preface, b) {
			return false, nil
		}
		if len(b) == len(h2Preface) {
			return true, nil
		}
		if _, err := c.br.Peek(len(b) + 1); err != nil {
			return false, err
		}
	}
}

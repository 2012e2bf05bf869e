package l4

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/balancer"
)

// backend is a TCP server on 127.0.0.1 running handle per connection.
type backend struct {
	ln       net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

func startBackend(t *testing.T, handle func(net.Conn)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln}
	b.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *backend) addr() netip.AddrPort {
	return netip.MustParseAddrPort(b.ln.Addr().String())
}

// echo copies what it reads back, then half-closes.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

// deadAddr is a 127.0.0.1 port with nothing listening.
func deadAddr(t *testing.T) netip.AddrPort {
	return netip.MustParseAddrPort(testenv.FreeAddr(t))
}

func cluster(eps ...balancer.Endpoint) *balancer.Balancer {
	c := balancer.New(balancer.Options{})
	c.Update(eps)
	return c
}

func ep(a netip.AddrPort, w uint32) balancer.Endpoint {
	return balancer.Endpoint{Addr: a, Weight: w}
}

// startProxy serves a proxy on 127.0.0.1 and shuts it down at cleanup.
// Its Service defaults to the test's name, so that each test has series
// of its own.
func startProxy(t *testing.T, c *balancer.Balancer, opts Options) (*Proxy, string) {
	t.Helper()
	if opts.Service == "" {
		opts.Service = t.Name()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := New(c, opts)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrProxyClosed) {
			t.Errorf("Serve returned %v, want ErrProxyClosed", err)
		}
	})
	return p, ln.Addr().String()
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c.(*net.TCPConn)
}

// counter reads a metric now.
func counter(m prometheus.Collector) float64 { return testutil.ToFloat64(m) }

// result is the connections_total series of the test's service.
func result(t *testing.T, r string) float64 {
	return counter(connectionsTotal.WithLabelValues(t.Name(), r))
}

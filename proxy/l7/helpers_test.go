package l7

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/balancer"
)

// backend is an HTTP/1.1 and h2c server on 127.0.0.1 that answers its
// name and the request body.
type backend struct {
	name string
	addr netip.AddrPort
	hits atomic.Int64
	srv  *http.Server
}

// startBackend serves name; handle, if set, runs before the answer.
func startBackend(t *testing.T, name string, handle func(http.ResponseWriter, *http.Request)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: netip.MustParseAddrPort(ln.Addr().String())}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	b.srv = &http.Server{Protocols: &protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if handle != nil {
			handle(w, r)
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", name, body)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		b.srv.Close()
		<-done
	})
	return b
}

// deadAddr is a 127.0.0.1 port nothing listens on.
func deadAddr(t *testing.T) netip.AddrPort {
	return netip.MustParseAddrPort(testenv.FreeAddr(t))
}

func newCluster(opts balancer.Options, addrs ...netip.AddrPort) *balancer.Balancer {
	c := balancer.New(opts)
	eps := make([]balancer.Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = balancer.Endpoint{Addr: a}
	}
	c.Update(eps)
	return c
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// startProxy serves c on 127.0.0.1 and shuts the proxy down at cleanup
// (unless the test did). Its Service is the test's name, so that each
// test has series of its own.
func startProxy(t *testing.T, c *balancer.Balancer) (*Proxy, *countingListener) {
	t.Helper()
	return startProxyWith(t, c, Options{Service: t.Name()})
}

func startProxyWith(t *testing.T, c *balancer.Balancer, opts Options) (*Proxy, *countingListener) {
	t.Helper()
	opts = pathOptions(t, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	p := New(c, opts)
	done := make(chan error, 1)
	go func() { done <- p.Serve(cl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrProxyClosed) {
			t.Errorf("serve returned %v, want ErrProxyClosed", err)
		}
	})
	return p, cl
}

// oneConnClient is an HTTP/1.1 keep-alive client that opens at most one
// connection; dials counts the connections it opened.
func oneConnClient(t *testing.T) (*http.Client, *atomic.Int64) {
	t.Helper()
	var dials atomic.Int64
	var d net.Dialer
	tr := &http.Transport{
		MaxConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, &dials
}

// get fetches url and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

// rawBackend is a TCP server on 127.0.0.1 that reads a request and then
// closes the connection without answering; with reset it closes with
// SO_LINGER 0, sending an RST. It plays a pod that dies with requests in
// flight.
type rawBackend struct {
	addr     netip.AddrPort
	accepted atomic.Int64
}

// startRawBackend starts a rawBackend. With h2 it speaks HTTP/2 (prior
// knowledge) far enough to have the request's stream open, reading up to
// the first HEADERS frame, so that the client has sent the request.
func startRawBackend(t *testing.T, reset, h2 bool) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{addr: netip.MustParseAddrPort(ln.Addr().String())}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			wg.Go(func() {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if h2 {
					readToHeaders(c)
				} else {
					http.ReadRequest(bufio.NewReader(c))
				}
				if reset {
					c.(*net.TCPConn).SetLinger(0)
				}
				c.Close()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return b
}

// readToHeaders reads an HTTP/2 client's preface and frames up to its
// first HEADERS frame.
func readToHeaders(c net.Conn) {
	if _, err := io.ReadFull(c, make([]byte, len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))); err != nil {
		return
	}
	hdr := make([]byte, 9) // length (24 bits), type, flags, stream
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n := int64(hdr[0])<<16 | int64(hdr[1])<<8 | int64(hdr[2])
		if _, err := io.CopyN(io.Discard, c, n); err != nil || hdr[3] == 0x1 {
			return
		}
	}
}

// weighted is a cluster of the given endpoints and weights that never
// ejects.
func weighted(eps ...balancer.Endpoint) *balancer.Balancer {
	c := balancer.New(balancer.Options{ConsecutiveFailures: -1})
	c.Update(eps)
	return c
}

// counter reads one series now.
func counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// forEachPath runs f as a subtest on each HTTP/1.1 implementation: the
// fast path ("fast") and net/http ("net-http", Options.NetHTTP1).
func forEachPath(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, path := range []string{"fast", "net-http"} {
		t.Run(path, f)
	}
}

// pathOptions sets NetHTTP1 in the subtests of forEachPath's net-http path.
func pathOptions(t *testing.T, opts Options) Options {
	for _, part := range strings.Split(t.Name(), "/") {
		if part == "net-http" {
			opts.NetHTTP1 = true
		}
	}
	return opts
}

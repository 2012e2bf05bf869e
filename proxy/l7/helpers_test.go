package l7

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/proxy/balancer"
)

// backend is an HTTP/1.1 server on 127.0.0.1 that answers its name.
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
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return a
}

func newCluster(opts balancer.Options, addrs ...netip.AddrPort) *balancer.Cluster {
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
// (unless the test did).
func startProxy(t *testing.T, c *balancer.Cluster) (*Proxy, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	p := New(c, Options{})
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

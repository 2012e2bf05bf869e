package l4

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/proxytest"
)

func TestBytesBothWays(t *testing.T) {
	proxytest.NoLeaks(t)
	b := startBackend(t, echo)
	_, addr := startProxy(t, cluster(ep(b.addr(), 1)), Options{})

	payload := make([]byte, 4<<20)
	rand.Read(payload)
	c := dial(t, addr)
	go func() {
		c.Write(payload)
		c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d bytes, want the %d sent", len(got), len(payload))
	}
	c.Close()
	testenv.Eventually(t, 5*time.Second, "byte counters", func() bool {
		return counter(bytesTotal.WithLabelValues(t.Name(), "upstream")) == float64(len(payload)) &&
			counter(bytesTotal.WithLabelValues(t.Name(), "downstream")) == float64(len(payload))
	})
	if n := result(t, "proxied"); n != 1 {
		t.Errorf("connections_total{result=proxied} is %v, want 1", n)
	}
}

func TestHalfClose(t *testing.T) {
	proxytest.NoLeaks(t)
	// The server replies only after the client has finished sending.
	b := startBackend(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		fmt.Fprintf(c, "got %d bytes", n)
	})
	_, addr := startProxy(t, cluster(ep(b.addr(), 1)), Options{})
	c := dial(t, addr)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "got 5 bytes" {
		t.Fatalf("reply %q, want %q", got, "got 5 bytes")
	}
}

func TestDeadEndpointRetried(t *testing.T) {
	proxytest.NoLeaks(t)
	live := startBackend(t, echo)
	dead := deadAddr(t)
	// The dead endpoint's weight makes it the first draw almost always.
	cl := cluster(ep(dead, 1000), ep(live.addr(), 1))
	_, addr := startProxy(t, cl, Options{})

	for i := range 10 {
		c := dial(t, addr)
		msg := fmt.Sprintf("ping %d", i)
		c.Write([]byte(msg))
		c.CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != msg {
			t.Fatalf("connection %d: got %q, %v; want %q", i, got, err, msg)
		}
		c.Close()
	}
	if n := counter(connectFailures.WithLabelValues(t.Name())); n < 1 {
		t.Errorf("connect_failures_total is %v, want at least 1", n)
	}
	if n := result(t, "connect_failed"); n != 0 {
		t.Errorf("connections_total{result=connect_failed} is %v, want 0", n)
	}
	if live.accepted.Load() != 10 {
		t.Errorf("live endpoint accepted %d connections, want 10", live.accepted.Load())
	}
	// Five failures in a row ejected the dead endpoint.
	for _, h := range cl.Hosts() {
		if h.Addr() == dead && !h.Ejected() {
			t.Error("dead endpoint not ejected")
		}
	}
}

func TestAllEndpointsDead(t *testing.T) {
	proxytest.NoLeaks(t)
	_, addr := startProxy(t, cluster(ep(deadAddr(t), 1), ep(deadAddr(t), 1), ep(deadAddr(t), 1)), Options{})

	c := dial(t, addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a connection with no live endpoint: %d, %v; want it closed", n, err)
	}
	testenv.Eventually(t, 5*time.Second, "failure counters", func() bool {
		return counter(connectFailures.WithLabelValues(t.Name())) == 3 && result(t, "connect_failed") == 1
	})
}

func TestNoEndpoints(t *testing.T) {
	proxytest.NoLeaks(t)
	_, addr := startProxy(t, cluster(), Options{})
	c := dial(t, addr)
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want the connection closed", err)
	}
	testenv.Eventually(t, 5*time.Second, "no_endpoint counter", func() bool { return result(t, "no_endpoint") == 1 })
}

func TestSpreadsAcrossEndpoints(t *testing.T) {
	proxytest.NoLeaks(t)
	// Each backend greets and then holds the connection, so every proxied
	// connection stays active while the next one is picked.
	hold := func(c net.Conn) {
		c.Write([]byte("hi"))
		io.Copy(io.Discard, c)
	}
	bs := []*backend{startBackend(t, hold), startBackend(t, hold), startBackend(t, hold)}
	_, addr := startProxy(t, cluster(ep(bs[0].addr(), 1), ep(bs[1].addr(), 1), ep(bs[2].addr(), 1)), Options{})

	for range 30 {
		c := dial(t, addr)
		if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range bs {
		// Power of two choices keeps the active counts within a couple.
		if n := b.accepted.Load(); n < 8 || n > 12 {
			t.Errorf("backend %d got %d of 30 connections, want about 10", i, n)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	proxytest.NoLeaks(t)
	b := startBackend(t, echo)
	_, addr := startProxy(t, cluster(ep(b.addr(), 1)), Options{IdleTimeout: 200 * time.Millisecond})
	c := dial(t, addr)
	// Traffic keeps it open past the timeout...
	for range 4 {
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// ...silence closes it.
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on an idle connection: %v, want it closed", err)
	}
	t.Logf("idle connection closed after %v", time.Since(start))
}

func TestShutdownDrains(t *testing.T) {
	proxytest.NoLeaks(t)
	b := startBackend(t, echo)
	p, addr := startProxy(t, cluster(ep(b.addr(), 1)), Options{})
	c := dial(t, addr)
	roundTrip(t, c, "before")

	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	testenv.Eventually(t, 5*time.Second, "listener closed", func() bool {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	roundTrip(t, c, "during shutdown")
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a connection open", err)
	default:
	}
	c.CloseWrite()
	io.ReadAll(c)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownCutsAtDeadline(t *testing.T) {
	proxytest.NoLeaks(t)
	b := startBackend(t, echo)
	p, addr := startProxy(t, cluster(ep(b.addr(), 1)), Options{})
	c := dial(t, addr)
	roundTrip(t, c, "before")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(ctx) }()
	roundTrip(t, c, "during shutdown")
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the shutdown deadline: %v, want the connection closed", err)
	}
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo: %q, %v; want %q", got, err, msg)
	}
}

func TestMetricsPerService(t *testing.T) {
	proxytest.NoLeaks(t)
	reg := prometheus.NewPedanticRegistry()
	for range 2 {
		if err := RegisterMetrics(reg); err != nil {
			t.Fatalf("RegisterMetrics: %v", err)
		}
	}
	b := startBackend(t, echo)
	svcA, svcB := t.Name()+"/a:80", t.Name()+"/b:80"
	pa, addrA := startProxy(t, cluster(ep(b.addr(), 1)), Options{Service: svcA})
	// A second listener of service a, as while a replaced listener drains.
	pa2, _ := startProxy(t, cluster(ep(b.addr(), 1)), Options{Service: svcA})
	_, addrB := startProxy(t, cluster(ep(deadAddr(t), 1)), Options{Service: svcB})

	for i := range 2 {
		c := dial(t, addrA)
		roundTrip(t, c, fmt.Sprintf("ping %d", i)) // 6 bytes each way
		c.Close()
	}
	c := dial(t, addrB)
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read through a proxy with no live endpoint: %v, want the connection closed", err)
	}
	testenv.Eventually(t, 5*time.Second, "connections of a to end", func() bool {
		n, _ := proxytest.Gathered(t, reg, "shoal_proxy_connection_duration_seconds", "service", svcA)
		return n == 2
	})

	tests := []struct {
		metric string
		labels []string
		want   float64
	}{
		{"shoal_proxy_connections_total", []string{"service", svcA, "result", "proxied"}, 2},
		{"shoal_proxy_connections_total", []string{"service", svcA, "result", "connect_failed"}, 0},
		{"shoal_proxy_bytes_total", []string{"service", svcA, "direction", "upstream"}, 12},
		{"shoal_proxy_bytes_total", []string{"service", svcA, "direction", "downstream"}, 12},
		{"shoal_proxy_active_connections", []string{"service", svcA}, 0},
		{"shoal_proxy_connect_failures_total", []string{"service", svcA}, 0},
		{"shoal_proxy_connections_total", []string{"service", svcB, "result", "proxied"}, 0},
		{"shoal_proxy_connections_total", []string{"service", svcB, "result", "connect_failed"}, 1},
		{"shoal_proxy_connect_failures_total", []string{"service", svcB}, 1},
		{"shoal_proxy_bytes_total", []string{"service", svcB, "direction", "upstream"}, 0},
		{"shoal_proxy_connection_duration_seconds", []string{"service", svcB}, 0},
	}
	for _, tc := range tests {
		if got, ok := proxytest.Gathered(t, reg, tc.metric, tc.labels...); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.metric, tc.labels, got, ok, tc.want)
		}
	}

	// Service a's series stay while one of its proxies runs, and go with
	// the last; b's are untouched.
	shutdown := func(p *Proxy) {
		t.Helper()
		if err := p.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	shutdown(pa)
	if got, _ := proxytest.Gathered(t, reg, "shoal_proxy_connections_total", "service", svcA, "result", "proxied"); got != 2 {
		t.Errorf("after one of a's two proxies shut down: proxied = %v, want 2", got)
	}
	shutdown(pa2)
	if _, ok := proxytest.Gathered(t, reg, "shoal_proxy_connections_total", "service", svcA); ok {
		t.Error("service a's series outlived its proxies")
	}
	if _, ok := proxytest.Gathered(t, reg, "shoal_proxy_connect_failures_total", "service", svcB); !ok {
		t.Error("service b's series went with a's proxies")
	}
}

func TestMetricsUnknownService(t *testing.T) {
	proxytest.NoLeaks(t)
	p := New(cluster(), Options{})
	defer p.Shutdown(t.Context())
	if p.m.service != "unknown" {
		t.Errorf("service label %q, want \"unknown\"", p.m.service)
	}
}

// Package resolvertest starts DNS servers for tests: Shoal's resolver from a
// Corefile, a miekg/dns upstream to forward to, and a client that asks them
// over UDP or TCP. Addresses are loopback ports free for both UDP and TCP.
package resolvertest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/dns/resolver"
)

// FreeAddr returns a 127.0.0.1 port that is free for both UDP and TCP (a DNS
// server needs both on the same port).
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		addr := ln.Addr().String()
		// Free for UDP too (DNS listens on both), and never handed out
		// twice in this process: the kernel may offer a port again as soon
		// as the probe closes it, and two listeners of one test would then
		// collide.
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		handedOutMu.Lock()
		taken := handedOut[port]
		handedOut[port] = true
		handedOutMu.Unlock()
		if !taken {
			return addr
		}
	}
	t.Fatal("free port: none free for both TCP and UDP")
	return ""
}

var (
	handedOutMu sync.Mutex
	handedOut   = map[int]bool{}
)

// Logger is a debug logger to stderr when SHOAL_TEST_LOG is set, else a
// discarding one.
func Logger() *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Start runs the resolver from corefile until the test ends.
func Start(t testing.TB, corefile string) *resolver.Server {
	t.Helper()
	srv, err := resolver.Start(context.Background(), corefile, Logger())
	if err != nil {
		t.Fatalf("start resolver: %v\ncorefile:\n%s", err, corefile)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// Upstream serves h on a free loopback port over UDP and TCP until the test
// ends, and returns the address.
func Upstream(t testing.TB, h dns.Handler) string {
	t.Helper()
	addr := FreeAddr(t)
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("upstream: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		t.Fatalf("upstream: %v", err)
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return addr
}

// Exchange sends m over network ("udp" or "tcp") to addr and returns the
// answer; it fails the test on a transport error.
func Exchange(t testing.TB, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	r, err := Ask(network, addr, m)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, dns.TypeToString[m.Question[0].Qtype], m.Question[0].Name, err)
	}
	return r
}

// Ask is Exchange without a test: the answer or the error.
func Ask(network, addr string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// Query is a question for name and type, recursion desired.
func Query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	return m
}

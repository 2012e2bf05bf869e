// Package resolvertest starts DNS servers for tests: Shoal's resolver from a
// Corefile, a miekg/dns upstream to forward to, and a client that asks them
// over UDP or TCP. Addresses are loopback ports free for both UDP and TCP.
package resolvertest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/dns/resolver"
	"github.com/shoalmesh/shoal/internal/testenv"
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
	addr := testenv.FreeAddr(t)
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

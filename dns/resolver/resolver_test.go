package resolver_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/dns/resolver"
	"github.com/shoalmesh/shoal/dns/resolver/resolvertest"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// upstream is a test upstream that answers A queries for *.example.org. with
// ip and counts what it is asked; other names are NXDOMAIN with a long
// negative TTL, to show the cache caps it.
type upstream struct {
	ip    string
	count atomic.Int64
}

func (u *upstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	u.count.Add(1)
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	if strings.HasSuffix(q.Name, ".example.org.") && q.Qtype == dns.TypeA {
		rr, _ := dns.NewRR(fmt.Sprintf("%s 300 IN A %s", q.Name, u.ip))
		m.Answer = append(m.Answer, rr)
	} else {
		m.Rcode = dns.RcodeNameError
		soa, _ := dns.NewRR("example.org. 3600 IN SOA ns.example.org. admin.example.org. 1 7200 1800 86400 3600")
		m.Ns = append(m.Ns, soa)
	}
	w.WriteMsg(m)
}

// forwardCorefile serves . on addr, forwarding to up, cached as the built-in
// Corefile caches.
func forwardCorefile(addr, up string, extra ...string) string {
	extra = append(extra, "    log")
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf(`.:%s {
    bind %s
    errors
%s
    cache 5 {
        success 9984 5
        denial 9984 5
    }
    forward . %s
}
`, port, host, strings.Join(extra, "\n"), up)
}

func TestResolverForwardsAndCaches(t *testing.T) {
	up := &upstream{ip: "192.0.2.1"}
	upAddr := resolvertest.Upstream(t, up)
	addr := testenv.FreeAddr(t)
	srv := resolvertest.Start(t, forwardCorefile(addr, upAddr))
	if srv.UDPAddr() != addr || srv.TCPAddr() != addr {
		t.Fatalf("listening on udp %s tcp %s, want %s for both", srv.UDPAddr(), srv.TCPAddr(), addr)
	}

	for _, network := range []string{"udp", "tcp", "udp"} {
		r := resolvertest.Exchange(t, network, addr, resolvertest.Query("www.example.org", dns.TypeA))
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s: answer %v", network, r)
		}
		a := r.Answer[0].(*dns.A)
		if a.A.String() != "192.0.2.1" {
			t.Errorf("%s: A = %s, want 192.0.2.1", network, a.A)
		}
		if a.Hdr.Ttl > 5 {
			t.Errorf("%s: TTL = %d, want at most the cache's 5 s cap", network, a.Hdr.Ttl)
		}
	}
	if n := up.count.Load(); n != 1 {
		t.Errorf("upstream asked %d times for one name, want 1 (the cache answers the rest)", n)
	}

	for range 2 {
		r := resolvertest.Exchange(t, "udp", addr, resolvertest.Query("nope.example.net", dns.TypeA))
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
			t.Fatalf("answer %v, want NXDOMAIN with the SOA", r)
		}
		if ttl := r.Ns[0].Header().Ttl; ttl > 5 {
			t.Errorf("negative TTL = %d, want at most the cache's 5 s cap", ttl)
		}
	}
	if n := up.count.Load(); n != 2 {
		t.Errorf("upstream asked %d times for two names, want 2", n)
	}
}

func TestResolverCorefileErrorsNameTheLine(t *testing.T) {
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name, corefile, want string
	}{
		{"unknown directive", ".:" + port + " {\n    errors\n    kubernetes cluster.local\n}\n", "Corefile:3 - Error during parsing: Unknown directive 'kubernetes'"},
		{"bad argument", ".:" + port + " {\n    errors\n    cache -1\n}\n", "Corefile:3"},
		{"plugin set-up", ".:" + port + " {\n    errors\n\n    forward . not-an-address\n}\n", "Corefile:4 - plugin/forward"},
		{"stray brace", ".:" + port + " {\n    errors\n}\n}\n", `Corefile:4 - server block has no directives: "}"`},
		{"missing brace", ".:" + port + " {\n    errors\n", "Corefile:2 - Syntax error"},
		{"no server", "# nothing\n", resolver.ErrNoServer.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := resolver.Start(t.Context(), tt.corefile, resolvertest.Logger())
			if err == nil {
				srv.Stop()
				t.Fatalf("started; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
	// A failed start leaves the port free.
	srv := resolvertest.Start(t, forwardCorefile(addr, resolvertest.Upstream(t, &upstream{ip: "192.0.2.1"})))
	srv.Stop()
}

// servingGoroutines counts goroutines inside CoreDNS's or miekg/dns's code.
func servingGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/coredns/") || strings.Contains(g, "github.com/miekg/dns.") {
			n++
			found = append(found, g)
		}
	}
	return n, strings.Join(found, "\n\n")
}

func TestResolverStopLeavesNothingServing(t *testing.T) {
	before, _ := servingGoroutines()
	up := &upstream{ip: "192.0.2.1"}
	// The upstream is a miekg/dns server too; stop it before counting.
	upCtx, upStop := context.WithCancel(t.Context())
	upAddr := startUpstream(upCtx, t, up)

	for _, how := range []string{"Stop", "context"} {
		addr := testenv.FreeAddr(t)
		ctx, cancel := context.WithCancel(t.Context())
		srv, err := resolver.Start(ctx, forwardCorefile(addr, upAddr, "    health "+testenv.FreeAddr(t)), resolvertest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		resolvertest.Exchange(t, "udp", addr, resolvertest.Query("a.example.org", dns.TypeA))
		resolvertest.Exchange(t, "tcp", addr, resolvertest.Query("a.example.org", dns.TypeA))
		if how == "Stop" {
			if err := srv.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		} else {
			cancel()
		}
		select {
		case <-srv.Done():
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: not stopped after 30s", how)
		}
		cancel()
		// The address is free again for UDP and TCP.
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("%s: udp %s still bound: %v", how, addr, err)
		}
		pc.Close()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s: tcp %s still bound: %v", how, addr, err)
		}
		ln.Close()
	}
	upStop()
	testenv.Eventually(t, 10*time.Second, "the server's goroutines to end", func() error {
		if n, stacks := servingGoroutines(); n > before {
			return fmt.Errorf("%d goroutines in coredns or miekg/dns after stop (before start: %d):\n%s", n, before, stacks)
		}
		return nil
	})
}

// startUpstream is resolvertest.Upstream stopped by ctx rather than at the
// end of the test.
func startUpstream(ctx context.Context, t *testing.T, h dns.Handler) string {
	addr := testenv.FreeAddr(t)
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		context.AfterFunc(ctx, func() { s.Shutdown() })
	}
	return addr
}

// TestResolverReloadPicksUpTheFile changes the upstream in the Corefile file and
// waits for the answers to follow.
func TestResolverReloadPicksUpTheFile(t *testing.T) {
	one := resolvertest.Upstream(t, &upstream{ip: "192.0.2.1"})
	two := resolvertest.Upstream(t, &upstream{ip: "192.0.2.2"})
	addr := testenv.FreeAddr(t)
	path := filepath.Join(t.TempDir(), "Corefile")
	write := func(up string) {
		// No cache, so the answer shows the upstream at once.
		host, port, _ := net.SplitHostPort(addr)
		c := fmt.Sprintf(".:%s {\n    bind %s\n    reload 2s 1s\n    forward . %s\n}\n", port, host, up)
		if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(one)
	srv, err := resolver.StartFile(t.Context(), path, resolvertest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	answer := func() string {
		r, err := resolvertest.Ask("udp", addr, resolvertest.Query("www.example.org", dns.TypeA))
		if err != nil || len(r.Answer) != 1 {
			return fmt.Sprint(r, err)
		}
		return r.Answer[0].(*dns.A).A.String()
	}
	if got := answer(); got != "192.0.2.1" {
		t.Fatalf("answer %s, want 192.0.2.1", got)
	}
	write(two)
	testenv.Eventually(t, 20*time.Second, "the answer after the Corefile changed", func() error {
		if got := answer(); got != "192.0.2.2" {
			return fmt.Errorf("answer %s, want 192.0.2.2", got)
		}
		return nil
	})
	// Stop stops the instance the reload started.
	if err := srv.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, err := resolvertest.Ask("udp", addr, resolvertest.Query("www.example.org", dns.TypeA)); err == nil {
		t.Errorf("still answering after Stop")
	}
}

package l4

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/proxy/balancer"
	"github.com/shoalmesh/shoal/proxy/proxytest"
)

// udpBackend is a UDP server on 127.0.0.x answering each datagram with
// reply(datagram), and recording the source addresses it saw.
type udpBackend struct {
	pc   *net.UDPConn
	mu   sync.Mutex
	seen map[netip.AddrPort]int
}

func startUDPBackend(t *testing.T, ip string, reply func([]byte) []byte) *udpBackend {
	t.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	b := &udpBackend{pc: pc, seen: map[netip.AddrPort]int{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			b.mu.Lock()
			b.seen[from]++
			b.mu.Unlock()
			pc.WriteToUDPAddrPort(reply(buf[:n]), from)
		}
	})
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return b
}

func (b *udpBackend) addr() netip.AddrPort { return netip.MustParseAddrPort(b.pc.LocalAddr().String()) }

// sources is how many distinct flows (proxy-side sockets) reached b.
func (b *udpBackend) sources() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

// tagged answers "<payload>@<backend address>".
func tagged(t *testing.T, ip string) *udpBackend {
	var b *udpBackend
	var ready sync.WaitGroup
	ready.Add(1)
	b = startUDPBackend(t, ip, func(p []byte) []byte {
		ready.Wait()
		return []byte(string(p) + "@" + b.addr().String())
	})
	ready.Done()
	return b
}

// deadUDPAddr is a 127.0.0.1 UDP port with nothing bound.
func deadUDPAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return a
}

// startUDPProxy serves a UDP proxy on 127.0.0.1 and shuts it down at
// cleanup, checking that Serve then returns ErrProxyClosed.
func startUDPProxy(t *testing.T, c *balancer.Balancer, opts UDPOptions) (*UDPProxy, netip.AddrPort) {
	t.Helper()
	if opts.Service == "" {
		opts.Service = t.Name()
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := NewUDP(c, opts)
	served := make(chan error, 1)
	go func() { served <- p.Serve(pc) }()
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
	return p, netip.MustParseAddrPort(pc.LocalAddr().String())
}

// udpClient is a client socket connected to the proxy: it accepts only
// datagrams from the proxy's address, which is what "replies return from
// the listening socket" means to a real client.
func udpClient(t *testing.T, proxy netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(proxy))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends msg and waits for one reply, resending every 200ms (UDP
// may drop, and a refused flow drops the datagram that found out).
func exchange(t *testing.T, c *net.UDPConn, msg string) string {
	t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	t.Fatalf("no reply to %q in 10 s", msg)
	return ""
}

func TestUDPRepliesReachTheirClients(t *testing.T) {
	proxytest.NoLeaks(t)
	b1, b2 := tagged(t, "127.0.0.2"), tagged(t, "127.0.0.3")
	c := cluster(ep(b1.addr(), 1), ep(b2.addr(), 1))
	p, addr := startUDPProxy(t, c, UDPOptions{})

	alice, bob := udpClient(t, addr), udpClient(t, addr)
	ra := exchange(t, alice, "alice")
	rb := exchange(t, bob, "bob")
	if !strings.HasPrefix(ra, "alice@127.0.0.") || !strings.HasPrefix(rb, "bob@127.0.0.") {
		t.Fatalf("replies %q and %q", ra, rb)
	}
	// Each client keeps its flow: the same endpoint answers again, from
	// the same proxy-side socket.
	for range 5 {
		if got := exchange(t, alice, "alice"); got != ra {
			t.Errorf("alice's flow moved: %q then %q", ra, got)
		}
	}
	if n := p.Flows(); n != 2 {
		t.Errorf("%d flows, want 2", n)
	}
	if n := b1.sources() + b2.sources(); n != 2 {
		t.Errorf("endpoints saw %d proxy-side sources, want 2 (one per client)", n)
	}
	var active int64
	for _, h := range c.Hosts() {
		active += h.Active()
	}
	if active != 2 {
		t.Errorf("hosts have %d active flows, want 2", active)
	}
}

func TestUDPFlowsSpreadOverEndpoints(t *testing.T) {
	proxytest.NoLeaks(t)
	bs := []*udpBackend{tagged(t, "127.0.0.2"), tagged(t, "127.0.0.3"), tagged(t, "127.0.0.4")}
	c := balancer.New(balancer.Options{Mode: balancer.RoundRobin})
	c.Update([]balancer.Endpoint{ep(bs[0].addr(), 1), ep(bs[1].addr(), 1), ep(bs[2].addr(), 1)})
	_, addr := startUDPProxy(t, c, UDPOptions{})

	for i := range 30 {
		exchange(t, udpClient(t, addr), "q"+string(rune('a'+i%26)))
	}
	for _, b := range bs {
		if n := b.sources(); n < 5 {
			t.Errorf("endpoint %s got %d of 30 flows", b.addr(), n)
		}
	}
}

func TestUDPIdleFlowExpires(t *testing.T) {
	proxytest.NoLeaks(t)
	b := tagged(t, "127.0.0.2")
	c := cluster(ep(b.addr(), 1))
	p, addr := startUDPProxy(t, c, UDPOptions{IdleTimeout: 50 * time.Millisecond})

	cl := udpClient(t, addr)
	exchange(t, cl, "one")
	testenv.Eventually(t, 5*time.Second, "the flow to expire", func() bool { return p.Flows() == 0 && c.Hosts()[0].Active() == 0 })
	// The same client gets a new flow: a new proxy-side socket.
	exchange(t, cl, "two")
	if n := b.sources(); n != 2 {
		t.Errorf("endpoint saw %d sources, want 2 (a flow per idle period)", n)
	}
	if n := counter(udpActiveFlows.WithLabelValues(t.Name())); n != 1 {
		t.Errorf("active flows gauge %v, want 1", n)
	}
}

func TestUDPRefusedEndpointIsRepicked(t *testing.T) {
	proxytest.NoLeaks(t)
	dead := deadUDPAddr(t)
	c := cluster(ep(dead, 1))
	p, addr := startUDPProxy(t, c, UDPOptions{})

	cl := udpClient(t, addr)
	if _, err := cl.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	deadHost := c.Hosts()[0]
	testenv.Eventually(t, 5*time.Second, "the refusal to be reported", func() bool {
		return deadHost.Stats().Errors == 1 && p.Flows() == 0 && deadHost.Active() == 0
	})
	if n := counter(udpUpstreamErrors.WithLabelValues(t.Name())); n != 1 {
		t.Errorf("upstream errors %v, want 1", n)
	}

	// The endpoint is replaced; the same client's next datagram picks
	// again instead of sticking to the dead one.
	b := tagged(t, "127.0.0.2")
	c.Update([]balancer.Endpoint{ep(b.addr(), 1)})
	if got := exchange(t, cl, "hello"); got != "hello@"+b.addr().String() {
		t.Errorf("reply %q", got)
	}
	if s := c.Hosts()[0].Stats(); s.Succeeded != 1 || s.Issued != 1 {
		t.Errorf("live host stats %+v, want 1 issued, 1 succeeded", s)
	}
}

func TestUDPFlowLimit(t *testing.T) {
	proxytest.NoLeaks(t)
	b := tagged(t, "127.0.0.2")
	_, addr := startUDPProxy(t, cluster(ep(b.addr(), 1)), UDPOptions{MaxFlows: 1})

	exchange(t, udpClient(t, addr), "first")
	late := udpClient(t, addr)
	late.Write([]byte("second"))
	testenv.Eventually(t, 5*time.Second, "the over-limit drop", func() bool {
		return counter(udpDroppedTotal.WithLabelValues(t.Name(), "flow_limit")) >= 1
	})
	late.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := late.Read(make([]byte, 100)); err == nil {
		t.Errorf("over-limit client got a reply of %d bytes", n)
	}
}

func TestUDPNoEndpoint(t *testing.T) {
	proxytest.NoLeaks(t)
	_, addr := startUDPProxy(t, cluster(), UDPOptions{})
	udpClient(t, addr).Write([]byte("void"))
	testenv.Eventually(t, 5*time.Second, "the no-endpoint drop", func() bool {
		return counter(udpFlowsTotal.WithLabelValues(t.Name(), "no_endpoint")) == 1
	})
}

func TestUDPShutdownClosesEverything(t *testing.T) {
	proxytest.NoLeaks(t)
	b := tagged(t, "127.0.0.2")
	c := cluster(ep(b.addr(), 1))
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := NewUDP(c, UDPOptions{Service: t.Name()})
	served := make(chan error, 1)
	go func() { served <- p.Serve(pc) }()
	addr := netip.MustParseAddrPort(pc.LocalAddr().String())
	for range 3 {
		exchange(t, udpClient(t, addr), "x")
	}
	if n := p.Flows(); n != 3 {
		t.Fatalf("%d flows, want 3", n)
	}

	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrProxyClosed) {
		t.Errorf("Serve returned %v, want ErrProxyClosed", err)
	}
	if n, a := p.Flows(), c.Hosts()[0].Active(); n != 0 || a != 0 {
		t.Errorf("after Shutdown: %d flows, host active %d", n, a)
	}
	if _, err := pc.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(addr)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listening socket still open: %v", err)
	}
	other, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err := p.Serve(other); !errors.Is(err, ErrProxyClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	// The service's series went with its only proxy.
	reg := prometheus.NewRegistry()
	if err := RegisterUDPMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, ok := proxytest.Gathered(t, reg, "shoal_proxy_udp_flows_total", "service", t.Name()); ok {
		t.Error("series of a shut-down service still exported")
	}
}

// TestUDPDNSExchange sends a DNS query through the proxy to a server that
// answers it, as a pod resolving through the cluster DNS VIP would.
func TestUDPDNSExchange(t *testing.T) {
	proxytest.NoLeaks(t)
	srv := startUDPBackend(t, "127.0.0.2", func(p []byte) []byte {
		q := new(dns.Msg)
		if err := q.Unpack(p); err != nil || len(q.Question) != 1 {
			return nil
		}
		r := new(dns.Msg)
		r.SetReply(q)
		rr, _ := dns.NewRR(q.Question[0].Name + " 30 IN A 10.96.0.42")
		r.Answer = append(r.Answer, rr)
		out, _ := r.Pack()
		return out
	})
	_, addr := startUDPProxy(t, cluster(ep(srv.addr(), 1)), UDPOptions{Service: "kube-dns.kube-system.svc.cluster.local:53/udp"})

	cl := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
	var r *dns.Msg
	var err error
	for range 5 { // a lost datagram is retried, as a resolver would
		if r, _, err = cl.Exchange(q, addr.String()); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if r.Id != q.Id || !r.Response || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.96.0.42" {
		t.Errorf("answer %v", r)
	}
}

func TestUDPTooBigIsDropped(t *testing.T) {
	proxytest.NoLeaks(t)
	b := tagged(t, "127.0.0.2")
	_, addr := startUDPProxy(t, cluster(ep(b.addr(), 1)), UDPOptions{MaxDatagramSize: 16})
	cl := udpClient(t, addr)
	cl.Write([]byte(strings.Repeat("x", 17)))
	testenv.Eventually(t, 5*time.Second, "the too-big drop", func() bool {
		return counter(udpDroppedTotal.WithLabelValues(t.Name(), "too_big")) == 1
	})
	if b.sources() != 0 {
		t.Error("a too-big datagram reached the endpoint")
	}
	// The reply "ok@127.0.0.2:port" is itself over 16 bytes: dropped too.
	cl.Write([]byte("ok"))
	testenv.Eventually(t, 5*time.Second, "the too-big reply drop", func() bool {
		return counter(udpDroppedTotal.WithLabelValues(t.Name(), "too_big")) == 2
	})
}

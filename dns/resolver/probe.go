package resolver

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

// probeTimeout bounds the wait for a started server to answer.
const probeTimeout = 10 * time.Second

// waitServing returns once every server of inst answers over UDP and TCP.
// caddy.Start returns when the sockets are bound but before the goroutines
// that read them have started; a server stopped in between would never be
// shut down (CoreDNS's Server.Stop only stops what Serve has set up). The
// probe is a query without a question, which miekg/dns answers with FORMERR
// before any plugin sees it.
func waitServing(ctx context.Context, inst *caddy.Instance) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	for _, sl := range inst.Servers() {
		for _, a := range []struct {
			network string
			addr    net.Addr
		}{{"udp", sl.LocalAddr()}, {"tcp", sl.Addr()}} {
			if a.addr == nil {
				continue
			}
			if err := probe(ctx, a.network, dialable(a.addr)); err != nil {
				return fmt.Errorf("wait for %s %s to serve: %w", a.network, a.addr, err)
			}
		}
	}
	return nil
}

func probe(ctx context.Context, network, addr string) error {
	m := &dns.Msg{MsgHdr: dns.MsgHdr{Id: dns.Id(), Opcode: dns.OpcodeQuery}}
	c := &dns.Client{Net: network, Timeout: 200 * time.Millisecond}
	for {
		_, _, err := c.ExchangeContext(ctx, m, addr)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// dialable is addr with an unspecified IP replaced by loopback.
func dialable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

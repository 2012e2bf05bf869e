package resolver

import (
	"fmt"
	"net"
	"strings"
)

// DefaultUpstream is where names outside the cluster are forwarded.
const DefaultUpstream = "/etc/resolv.conf"

// Defaults describes the built-in Corefile. An empty address leaves the
// plugin that would listen on it out, so that any number of servers can run
// side by side.
type Defaults struct {
	// Addr is the DNS address (host:port, UDP and TCP); a host of "" or an
	// unspecified address listens on every interface.
	Addr string
	// ReadyAddr, HealthAddr and MetricsAddr are the listeners of the ready,
	// health and prometheus plugins.
	ReadyAddr, HealthAddr, MetricsAddr string
	// Upstream is forward's target (default DefaultUpstream).
	Upstream string
	// ClusterAddr, if set, is a second DNS address with the same answers:
	// the cluster DNS service IP (10.96.0.10:53) that pods' resolv.conf
	// names, when this machine runs pods.
	ClusterAddr string
	// NodeAddr, if set, is one more DNS address with the same answers: this
	// server's routable address, where other nodes' proxies send the
	// cluster DNS service's queries (it is in the kube-dns endpoints).
	NodeAddr string
}

// DefaultCorefile is the Corefile `shoal up` runs when it is given none: the
// cluster zone and reverse zones from the registry, everything else
// forwarded. See Defaults.Corefile.
func DefaultCorefile(addr string) string { return Defaults{Addr: addr}.Corefile() }

// Corefile renders d. Two server blocks share the one address:
//
//   - cluster.local and the reverse zones are answered by the cluster plugin
//     (ttl 5; reverse names it does not know fall through to forward). They
//     are not cached here: the plugin answers from a pre-computed index, and
//     a cache would delay a registry change by up to its TTL.
//   - everything else is forwarded and cached, for at most 5 s positive and
//     5 s negative, so an upstream answer is never served stale beyond that.
func (d Defaults) Corefile() string {
	var b strings.Builder
	b.WriteString("# Shoal's built-in Corefile.\n")
	d.blocks(&b, d.Addr, true)
	if d.ClusterAddr != "" {
		// The cluster DNS service IP that pods' resolv.conf names: the same
		// answers; the ready, health and metrics listeners exist once.
		d.blocks(&b, d.ClusterAddr, false)
	}
	if d.NodeAddr != "" {
		d.blocks(&b, d.NodeAddr, false)
	}
	return b.String()
}

// blocks writes the two server blocks of one listen address.
func (d Defaults) blocks(b *strings.Builder, addr string, listeners bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "53"
	}
	upstream := d.Upstream
	if upstream == "" {
		upstream = DefaultUpstream
	}
	bind := ""
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		bind = "    bind " + host + "\n"
	}
	optional := func(directive, addr string) string {
		if addr == "" || !listeners {
			return ""
		}
		return fmt.Sprintf("    %s %s\n", directive, addr)
	}
	fmt.Fprintf(b, "cluster.local:%[1]s in-addr.arpa:%[1]s ip6.arpa:%[1]s {\n", port)
	b.WriteString(bind)
	b.WriteString(optional("ready", d.ReadyAddr))
	b.WriteString(optional("health", d.HealthAddr))
	b.WriteString(optional("prometheus", d.MetricsAddr))
	fmt.Fprintf(b, `    errors
    cluster cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        ttl 5
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . %s
}
.:%s {
`, upstream, port)
	b.WriteString(bind)
	b.WriteString(optional("prometheus", d.MetricsAddr))
	fmt.Fprintf(b, `    errors
    cache 5 {
        success 9984 5
        denial 9984 5
    }
    forward . %s
}
`, upstream)
}

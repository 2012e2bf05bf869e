package resolver

import (
	"slices"

	// The plugins of the curated server. A blank import registers a plugin's
	// directive with Caddy (cluster is registered by dns/cluster, which
	// server.go imports); only directives in the list below are accepted in
	// a Corefile.
	_ "github.com/coredns/coredns/plugin/autopath"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives are the plugins a Shoal Corefile may use, in the order CoreDNS
// runs them (core/dnsserver/zdirectives.go), with cluster where CoreDNS has
// kubernetes. The order is the plugin chain's, not the Corefile's.
var directives = []string{
	"reload",
	"bind",
	"ready",
	"health",
	"prometheus",
	"errors",
	"log",
	"loadbalance",
	"autopath",
	"cache",
	"cluster",
	"loop",
	"forward",
}

// Directives returns the directives a Shoal Corefile may use, in execution
// order.
func Directives() []string { return slices.Clone(directives) }

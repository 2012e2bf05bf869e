package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/autopath"
	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/plugin/ready"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// PodMode is how `<a-b-c-d>.<ns>.pod.<zone>` names are answered.
type PodMode string

// Pod modes, as CoreDNS's kubernetes plugin names them.
const (
	PodsDisabled PodMode = "disabled" // NXDOMAIN
	PodsInsecure PodMode = "insecure" // the address in the name, if the namespace exists
	PodsVerified PodMode = "verified" // only if a pod in that namespace has that address
)

// Defaults of the directive.
const (
	DefaultZone = "cluster.local."
	DefaultTTL  = 5
	// DefaultDNSServiceIP is the address of ns.dns.<zone> when there is no
	// kube-system/kube-dns Service to take it from.
	DefaultDNSServiceIP = "10.96.0.10"
	// SchemaVersion is the Kubernetes DNS specification version answered at
	// dns-version.<zone>.
	SchemaVersion = "1.1.0"
)

// Config is what a `cluster` block sets.
type Config struct {
	// Zones are the zones answered, lower-case and fully qualified; the
	// first forward zone is the one PTR targets are named in.
	Zones            []string
	TTL              uint32
	Pods             PodMode
	EndpointPodNames bool
	// Namespaces, if set, are the only namespaces answered.
	Namespaces         []string
	NoEndpoints        bool
	IgnoreEmptyService bool
	Fall               fall.F
	// Endpoints are etcd client URLs; empty means the caches set with UseCaches.
	Endpoints []string
	// TLSCert, TLSKey and TLSCA are the etcd client's certificate, key and CA.
	TLSCert, TLSKey, TLSCA string
}

// Upstreamer resolves names outside the zone (an ExternalName's target);
// CoreDNS's upstream.Upstream, which sends the query through the server's
// plugin chain again, is one.
type Upstreamer interface {
	Lookup(ctx context.Context, state request.Request, name string, typ uint16) (*dns.Msg, error)
}

// Cluster is the `cluster` plugin.
type Cluster struct {
	Next     plugin.Handler
	Upstream Upstreamer

	cfg     Config
	zones   []zoneInfo
	primary string   // first forward zone
	search  []string // the host's resolv.conf search path, for autopath
	log     *slog.Logger

	index atomic.Pointer[index]

	mu        sync.Mutex
	published chan struct{} // closed and replaced on every publish
	stop      context.CancelFunc
	done      chan struct{}
	reads     [numFeeds]bool // the feeds Start subscribed to
}

// zoneInfo is one zone the plugin answers.
type zoneInfo struct {
	name    string // lower-case FQDN
	reverse bool
}

var (
	_ plugin.Handler      = (*Cluster)(nil)
	_ ready.Readiness     = (*Cluster)(nil)
	_ autopath.AutoPather = (*Cluster)(nil)
	_ Upstreamer          = (*upstream.Upstream)(nil)
)

// New returns a plugin answering with cfg; it answers SERVFAIL until Start
// has been called and the first index is built.
func New(cfg Config) *Cluster {
	if len(cfg.Zones) == 0 {
		cfg.Zones = []string{DefaultZone}
	}
	if cfg.Pods == "" {
		cfg.Pods = PodsDisabled
	}
	c := &Cluster{
		Upstream:  upstream.New(),
		cfg:       cfg,
		log:       logger(),
		published: make(chan struct{}),
	}
	for _, z := range cfg.Zones {
		z = strings.ToLower(dns.Fqdn(z))
		zi := zoneInfo{name: z, reverse: isReverse(z)}
		c.zones = append(c.zones, zi)
		if !zi.reverse && c.primary == "" {
			c.primary = z
		}
	}
	return c
}

// Name implements plugin.Handler.
func (c *Cluster) Name() string { return "cluster" }

// Config returns the plugin's configuration.
func (c *Cluster) Config() Config { return c.cfg }

// match returns the most specific zone containing the lower-case name key.
func (c *Cluster) match(key string) (zoneInfo, bool) {
	best, ok := zoneInfo{}, false
	for _, z := range c.zones {
		if inZone(key, z.name) && (!ok || len(z.name) > len(best.name)) {
			best, ok = z, true
		}
	}
	return best, ok
}

// inZone reports whether the lower-case FQDN name is zone or below it.
func inZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	if !strings.HasSuffix(name, zone) {
		return false
	}
	return len(name) == len(zone) || name[len(name)-len(zone)-1] == '.'
}

// isReverse reports whether zone is in-addr.arpa or ip6.arpa or below
// (dnsutil.IsReverse leaves out the two apexes themselves).
func isReverse(zone string) bool {
	return zone == "in-addr.arpa." || zone == "ip6.arpa." || dnsutil.IsReverse(zone) > 0
}

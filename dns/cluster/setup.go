package cluster

import (
	"context"
	"net/url"
	"slices"
	"strconv"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/controlplane/store"
)

func init() { plugin.Register("cluster", setup) }

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error("cluster", err)
	}
	cl := New(cfg)
	cl.search = searchPath()
	shared := sharedCaches()
	if len(cfg.Endpoints) == 0 && shared == nil {
		return plugin.Error("cluster", c.Errf("%v", ErrNoSource))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var closeClient func() error
	c.OnStartup(func() error {
		caches := shared
		if len(cfg.Endpoints) > 0 {
			// shoal dns: this block's own client and caches.
			client, err := connect(cfg)
			if err != nil {
				return plugin.Error("cluster", err)
			}
			closeClient = client.Close
			// Its caches are the plugin's own: they keep only what it
			// answers from.
			caches = store.NewCaches(store.New(client), cl.log, store.WithTransform(trimmer(cfg)))
			caches.Start(ctx)
		}
		cl.Start(ctx, FeedsFrom(caches, cfg))
		return nil
	})
	c.OnShutdown(func() error {
		cl.Stop()
		cancel()
		if closeClient != nil {
			return closeClient()
		}
		return nil
	})
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		cl.Next = next
		return cl
	})
	return nil
}

// parse reads one `cluster` block. Errors name the Corefile line.
func parse(c *caddy.Controller) (Config, error) {
	cfg := Config{TTL: DefaultTTL, Pods: PodsDisabled}
	blocks := 0
	for c.Next() {
		if blocks++; blocks > 1 {
			return cfg, plugin.ErrOnce
		}
		cfg.Zones = zones(c.RemainingArgs(), c.ServerBlockKeys)
		if !slices.ContainsFunc(cfg.Zones, func(z string) bool { return !isReverse(z) }) {
			return cfg, c.Errf("%v: %v", ErrNoForwardZone, cfg.Zones)
		}
		for c.NextBlock() {
			if err := option(c, &cfg); err != nil {
				return cfg, err
			}
		}
	}
	return cfg, nil
}

// zones are the zones given as arguments, else the server block's zones
// other than the root, else cluster.local.
func zones(args, block []string) []string {
	if len(args) > 0 {
		return plugin.OriginsFromArgsOrServerBlock(args, block)
	}
	var out []string
	for _, z := range plugin.OriginsFromArgsOrServerBlock(nil, block) {
		if z != "." {
			out = append(out, z)
		}
	}
	if len(out) == 0 {
		return []string{DefaultZone}
	}
	return out
}

func option(c *caddy.Controller, cfg *Config) error {
	key := c.Val()
	args := c.RemainingArgs()
	switch key {
	case "endpoint":
		if len(args) == 0 {
			return c.ArgErr()
		}
		for _, a := range args {
			if u, err := url.Parse(a); err != nil || u.Scheme == "" || u.Host == "" {
				return c.Errf("endpoint %q: want an etcd client URL such as http://127.0.0.1:2379", a)
			}
		}
		cfg.Endpoints = args
	case "tls":
		if len(args) != 3 {
			return c.ArgErr()
		}
		cfg.TLSCert, cfg.TLSKey, cfg.TLSCA = args[0], args[1], args[2]
		if _, err := tlsConfig(*cfg); err != nil {
			return c.Errf("tls: %v", err)
		}
	case "ttl":
		if len(args) != 1 {
			return c.ArgErr()
		}
		t, err := strconv.Atoi(args[0])
		if err != nil || t < 0 || t > 3600 {
			return c.Errf("ttl must be a number of seconds in [0, 3600]: %q", args[0])
		}
		cfg.TTL = uint32(t)
	case "pods":
		if len(args) != 1 {
			return c.ArgErr()
		}
		switch m := PodMode(args[0]); m {
		case PodsDisabled, PodsInsecure, PodsVerified:
			cfg.Pods = m
		default:
			return c.Errf("pods must be one of disabled, insecure, verified: %q", args[0])
		}
	case "endpoint_pod_names":
		if len(args) != 0 {
			return c.ArgErr()
		}
		cfg.EndpointPodNames = true
	case "fallthrough":
		cfg.Fall.SetZonesFromArgs(args)
	case "namespaces":
		if len(args) == 0 {
			return c.ArgErr()
		}
		cfg.Namespaces = append(cfg.Namespaces, args...)
	case "noendpoints":
		if len(args) != 0 {
			return c.ArgErr()
		}
		cfg.NoEndpoints = true
	case "ignore":
		if len(args) != 1 || args[0] != "empty_service" {
			return c.Errf("ignore takes one value, empty_service: %q", args)
		}
		cfg.IgnoreEmptyService = true
	default:
		return c.Errf("unknown property %q", key)
	}
	return nil
}

// searchPath is the host's resolv.conf search path, which autopath tries
// after the cluster's own domains (as CoreDNS's kubernetes plugin does).
func searchPath() []string {
	rc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	plugin.Zones(rc.Search).Normalize()
	return rc.Search
}

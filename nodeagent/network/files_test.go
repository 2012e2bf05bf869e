package network

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolvConf(t *testing.T) {
	hostConf := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(hostConf, []byte("; comment\nnameserver 192.0.2.53\nnameserver 192.0.2.54\ndomain old.example\nsearch corp.example lab.example\noptions ndots:2 edns0\nsortlist 1.2.3.4\n"), 0o644)
	n := &Network{cfg: Config{HostResolvConf: hostConf, ClusterDomain: "k.example"}.withDefaults()}
	const cluster = "nameserver 10.96.0.10\nsearch shop.svc.k.example svc.k.example k.example\noptions ndots:5\n"
	const host = "nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example lab.example\noptions ndots:2 edns0\n"
	long := make([]string, 40)
	for i := range long {
		long[i] = fmt.Sprintf("%02d%s.example", i, strings.Repeat("x", 58)) // 69 bytes with the space: 29 fit in 2048
	}
	for _, c := range []struct {
		name string
		pod  Pod
		want string
	}{
		{"default is ClusterFirst", Pod{Namespace: "shop"}, cluster},
		{"ClusterFirst", Pod{Namespace: "shop", DNSPolicy: DNSClusterFirst}, cluster},
		{"ClusterFirst on the host network is the node's", Pod{Namespace: "shop", HostNetwork: true}, host},
		{"ClusterFirstWithHostNet", Pod{Namespace: "shop", HostNetwork: true, DNSPolicy: DNSClusterFirstWithHostNet}, cluster},
		{"Default", Pod{Namespace: "shop", DNSPolicy: DNSDefault}, host},
		{"None", Pod{Namespace: "shop", DNSPolicy: DNSNone, DNSConfig: &DNSConfig{
			Nameservers: []string{"192.0.2.1"}, Options: []DNSOption{{Name: "ndots", Value: "1"}}}},
			"nameserver 192.0.2.1\noptions ndots:1\n"},
		{"dnsConfig merges", Pod{Namespace: "shop", DNSConfig: &DNSConfig{
			Nameservers: []string{"10.96.0.10", "192.0.2.1", "192.0.2.2", "192.0.2.3"},
			Searches:    []string{"svc.k.example", "extra.example"},
			Options:     []DNSOption{{Name: "ndots", Value: "2"}, {Name: "single-request-reopen"}}}},
			"nameserver 10.96.0.10\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n" +
				"search shop.svc.k.example svc.k.example k.example extra.example\noptions ndots:2 single-request-reopen\n"},
		{"search list capped", Pod{Namespace: "shop", DNSPolicy: DNSNone, DNSConfig: &DNSConfig{
			Nameservers: []string{"192.0.2.1"}, Searches: long}},
			"nameserver 192.0.2.1\nsearch " + strings.Join(long[:29], " ") + "\n"},
	} {
		got, err := n.resolvConfFor(&c.pod)
		if err != nil || got != c.want {
			t.Errorf("%s:\n got %q (%v)\nwant %q", c.name, got, err, c.want)
		}
	}

	n.cfg.HostResolvConf = filepath.Join(t.TempDir(), "missing")
	if _, err := n.resolvConfFor(&Pod{DNSPolicy: DNSDefault}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing host resolv.conf: %v", err)
	}
}

func TestHosts(t *testing.T) {
	n := &Network{cfg: Config{}.withDefaults()}
	ip := netip.MustParseAddr("10.244.3.7")
	for _, c := range []struct {
		pod  Pod
		want string
	}{
		{Pod{Namespace: "shop", Name: "web-7f9c"}, "10.244.3.7\tweb-7f9c\n"},
		{Pod{Namespace: "shop", Name: "web-7f9c", Hostname: "web-0", Subdomain: "web"}, "10.244.3.7\tweb-0.web.shop.svc.cluster.local\tweb-0\n"},
		{Pod{Namespace: "shop", Name: strings.Repeat("a", 62) + "-b"}, "10.244.3.7\t" + strings.Repeat("a", 62) + "\n"},
	} {
		if got := n.hostsFor(&record{Pod: c.pod, IP: ip}); got != hostsHeader+c.want {
			t.Errorf("hosts for %+v:\n got %q\nwant %q", c.pod, got, hostsHeader+c.want)
		}
	}
}

func TestWriteIfChangedKeepsTheInode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := writeIfChanged(path, "a\n"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := writeIfChanged(path, "b\n"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Fatal("update replaced the file: a bind mount of it would not see the change")
	}
	if b, _ := os.ReadFile(path); string(b) != "b\n" {
		t.Fatalf("content %q", b)
	}
}

func TestNames(t *testing.T) {
	uid := "6e1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
	id := SandboxID(uid)
	if len(id) != 10 || !sandboxIDRE.MatchString(id) || SandboxID(uid) != id {
		t.Fatalf("SandboxID = %q: want 10 stable hex digits", id)
	}
	if v := HostVethName(uid); len(v) != 15 || !vethNameRE.MatchString(v) || v != "shoal"+id {
		t.Fatalf("HostVethName = %q", v)
	}
	if ns := NetNSName(uid); ns != "shoal-"+id || !netnsNameRE.MatchString(ns) {
		t.Fatalf("NetNSName = %q", ns)
	}
	if SandboxID(uid+"x") == id {
		t.Fatal("different UIDs share an ID")
	}
}

func TestConfigValidation(t *testing.T) {
	good := Config{PodCIDR: netip.MustParsePrefix("10.244.3.0/24"), StateDir: "/tmp/x"}
	if err := good.withDefaults().validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no CIDR", func(c *Config) { c.PodCIDR = netip.Prefix{} }, "PodCIDR"},
		{"host bits", func(c *Config) { c.PodCIDR = netip.MustParsePrefix("10.244.3.1/24") }, "host bits set"},
		{"IPv6 CIDR", func(c *Config) { c.PodCIDR = netip.MustParsePrefix("fd00::/64") }, "not an IPv4 prefix"},
		{"long bridge", func(c *Config) { c.Bridge = "shoal0123456789a" }, "Bridge"},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "StateDir"},
		{"relative netns dir", func(c *Config) { c.NetnsDir = "netns" }, "NetnsDir"},
		{"relative node netns", func(c *Config) { c.NetNS = "run/netns/node" }, "NetNS"},
		{"bad domain", func(c *Config) { c.ClusterDomain = "Cluster_Local" }, "ClusterDomain"},
		{"IPv6 DNS", func(c *Config) { c.ClusterDNS = netip.MustParseAddr("fd00::a") }, "ClusterDNS"},
		{"bad MTU", func(c *Config) { c.MTU = 20 }, "MTU"},
	} {
		cfg := good
		c.edit(&cfg)
		_, err := New(t.Context(), cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalidConfig naming %s", c.name, err, c.want)
		}
	}
}

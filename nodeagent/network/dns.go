package network

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// DNSPolicy is a pod's spec.dnsPolicy, with Kubernetes' meaning.
type DNSPolicy string

const (
	// DNSClusterFirst (the default, also for "") uses the cluster DNS, except
	// for hostNetwork pods, which get the node's resolv.conf as in Kubernetes.
	DNSClusterFirst DNSPolicy = "ClusterFirst"
	// DNSClusterFirstWithHostNet uses the cluster DNS, hostNetwork or not.
	DNSClusterFirstWithHostNet DNSPolicy = "ClusterFirstWithHostNet"
	// DNSDefault uses the node's resolv.conf (Config.HostResolvConf).
	DNSDefault DNSPolicy = "Default"
	// DNSNone uses only the pod's DNSConfig.
	DNSNone DNSPolicy = "None"
)

// DNSConfig is a pod's spec.dnsConfig: merged onto what the policy gives, as
// kubelet does (nameservers and searches appended without duplicates, options
// replacing those of the same name).
type DNSConfig struct {
	Nameservers []string    `json:"nameservers,omitempty"`
	Searches    []string    `json:"searches,omitempty"`
	Options     []DNSOption `json:"options,omitempty"`
}

// DNSOption is one resolv.conf option: "ndots" with value "5" is ndots:5.
type DNSOption struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// Kubernetes' limits on a pod's resolver configuration.
const (
	maxNameservers = 3
	maxSearches    = 32
	maxSearchChars = 2048
)

type resolvConf struct {
	nameservers []string
	searches    []string
	options     []DNSOption
}

func (c *resolvConf) String() string {
	var b strings.Builder
	for _, ns := range c.nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(c.searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(c.searches, " "))
	}
	if len(c.options) > 0 {
		opts := make([]string, len(c.options))
		for i, o := range c.options {
			opts[i] = o.Name
			if o.Value != "" {
				opts[i] += ":" + o.Value
			}
		}
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.String()
}

// resolvConfFor builds the pod's resolv.conf. ClusterFirst gives exactly the
// cluster nameserver, the Kubernetes search path and ndots:5; unlike kubelet
// it does not append the node's search domains, so a pod resolves the same
// on every node.
func (n *Network) resolvConfFor(pod *Pod) (string, error) {
	var c resolvConf
	switch pod.dnsPolicy() {
	case DNSClusterFirstWithHostNet, DNSClusterFirst:
		d := n.cfg.ClusterDomain
		c = resolvConf{
			nameservers: []string{n.cfg.ClusterDNS.String()},
			searches:    []string{pod.Namespace + ".svc." + d, "svc." + d, d},
			options:     []DNSOption{{Name: "ndots", Value: "5"}},
		}
	case DNSDefault:
		host, err := parseResolvConf(n.cfg.HostResolvConf)
		if err != nil {
			return "", err
		}
		c = *host
	case DNSNone:
	}
	if dc := pod.DNSConfig; dc != nil {
		c.nameservers = dedupe(append(c.nameservers, dc.Nameservers...))
		c.searches = dedupe(append(c.searches, dc.Searches...))
		c.options = mergeOptions(c.options, dc.Options)
	}
	if len(c.nameservers) > maxNameservers {
		c.nameservers = c.nameservers[:maxNameservers]
	}
	c.searches = limitSearches(c.searches)
	return c.String(), nil
}

// dnsPolicy resolves the default and Kubernetes' hostNetwork exception.
func (p *Pod) dnsPolicy() DNSPolicy {
	pol := p.DNSPolicy
	if pol == "" {
		pol = DNSClusterFirst
	}
	if pol == DNSClusterFirst && p.HostNetwork {
		return DNSDefault
	}
	return pol
}

func (p *Pod) validateDNS() error {
	switch p.DNSPolicy {
	case "", DNSClusterFirst, DNSClusterFirstWithHostNet, DNSDefault:
	case DNSNone:
		if p.DNSConfig == nil || len(p.DNSConfig.Nameservers) == 0 {
			return fmt.Errorf("%w: dnsPolicy None needs dnsConfig.nameservers", ErrInvalidPod)
		}
	default:
		return fmt.Errorf("%w: dnsPolicy %q: want ClusterFirst, ClusterFirstWithHostNet, Default or None", ErrInvalidPod, p.DNSPolicy)
	}
	if p.DNSConfig == nil {
		return nil
	}
	for i, ns := range p.DNSConfig.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			return fmt.Errorf("%w: dnsConfig.nameservers[%d] %q: not an IP address", ErrInvalidPod, i, ns)
		}
	}
	for i, s := range p.DNSConfig.Searches {
		if !isDNSSubdomain(strings.TrimSuffix(s, ".")) {
			return fmt.Errorf("%w: dnsConfig.searches[%d] %q: not a DNS name", ErrInvalidPod, i, s)
		}
	}
	for i, o := range p.DNSConfig.Options {
		if o.Name == "" || strings.ContainsAny(o.Name+o.Value, " \t\r\n:#;") {
			return fmt.Errorf("%w: dnsConfig.options[%d] %q: empty or holds a space, ':', '#' or ';'", ErrInvalidPod, i, o.Name)
		}
	}
	return nil
}

// parseResolvConf reads the nameserver, search (or domain) and options lines
// of a resolv.conf; other lines are dropped, as kubelet does.
func parseResolvConf(path string) (*resolvConf, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read host resolv.conf: %w", err)
	}
	var c resolvConf
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				c.nameservers = append(c.nameservers, f[1])
			}
		case "search", "domain":
			c.searches = f[1:] // the last search or domain line wins
		case "options":
			for _, o := range f[1:] {
				name, value, _ := strings.Cut(o, ":")
				c.options = mergeOptions(c.options, []DNSOption{{Name: name, Value: value}})
			}
		}
	}
	return &c, nil
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func mergeOptions(base, over []DNSOption) []DNSOption {
	out := slices.Clone(base)
	for _, o := range over {
		i := slices.IndexFunc(out, func(b DNSOption) bool { return b.Name == o.Name })
		if i >= 0 {
			out[i] = o
		} else {
			out = append(out, o)
		}
	}
	return out
}

func limitSearches(s []string) []string {
	total := 0
	for i, d := range s {
		total += len(d) + 1
		if i == maxSearches || total > maxSearchChars {
			return s[:i]
		}
	}
	return s
}

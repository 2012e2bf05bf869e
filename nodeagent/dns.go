package nodeagent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Kubernetes' limits on a pod's resolver configuration.
const (
	maxNameservers = 3
	maxSearches    = 32
	maxSearchChars = 2048
)

// podDNS is the resolver configuration of the pod's sandbox, which the
// runtime writes as its /etc/resolv.conf, by dnsPolicy as the kubelet
// builds it: ClusterFirst gives the cluster DNS, the Kubernetes search
// path and ndots:5 (without the node's search domains the kubelet
// appends, so a pod resolves alike on every node); a hostNetwork pod with
// ClusterFirst, and Default, get the node's resolv.conf; None gives only
// dnsConfig, which is merged onto the others (nameservers and searches
// appended without duplicates, options replacing those of the same name).
func (a *Agent) podDNS(pod *corev1.Pod) (*runtimeapi.DNSConfig, error) {
	c := &runtimeapi.DNSConfig{}
	policy := pod.Spec.DNSPolicy
	if policy == "" || (policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork) {
		policy = corev1.DNSClusterFirst
		if pod.Spec.HostNetwork {
			policy = corev1.DNSDefault
		}
	}
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		d := a.cfg.ClusterDomain
		c.Servers = []string{a.cfg.ClusterDNS.String()}
		c.Searches = []string{pod.Namespace + ".svc." + d, "svc." + d, d}
		c.Options = []string{"ndots:5"}
	case corev1.DNSDefault:
		host, err := readResolvConf(a.cfg.HostResolvConf)
		if err != nil {
			return nil, err
		}
		c = host
	case corev1.DNSNone:
	default:
		return nil, fmt.Errorf("dnsPolicy %q is not one of ClusterFirst, ClusterFirstWithHostNet, Default, None", policy)
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		c.Servers = dedupe(append(c.Servers, dc.Nameservers...))
		c.Searches = dedupe(append(c.Searches, dc.Searches...))
		c.Options = mergeOptions(c.Options, dc.Options)
	}
	if len(c.Servers) > maxNameservers {
		c.Servers = c.Servers[:maxNameservers]
	}
	c.Searches = limitSearches(c.Searches)
	return c, nil
}

// readResolvConf reads a resolv.conf's nameservers, search domains and
// options.
func readResolvConf(path string) (*runtimeapi.DNSConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the node's resolv.conf: %w", err)
	}
	var c runtimeapi.DNSConfig
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			c.Servers = append(c.Servers, f[1])
		case "search", "domain":
			c.Searches = f[1:]
		case "options":
			c.Options = append(c.Options, f[1:]...)
		}
	}
	return &c, nil
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// mergeOptions sets each of the pod's options over those of the same name.
func mergeOptions(base []string, pod []corev1.PodDNSConfigOption) []string {
	out := slices.Clone(base)
	for _, o := range pod {
		opt := o.Name
		if o.Value != nil && *o.Value != "" {
			opt += ":" + *o.Value
		}
		i := slices.IndexFunc(out, func(s string) bool { n, _, _ := strings.Cut(s, ":"); return n == o.Name })
		if i >= 0 {
			out[i] = opt
		} else {
			out = append(out, opt)
		}
	}
	return out
}

// limitSearches keeps the search domains within Kubernetes' limits.
func limitSearches(in []string) []string {
	var out []string
	n := 0
	for _, s := range in {
		if len(out) == maxSearches || n+len(s)+1 > maxSearchChars {
			break
		}
		out = append(out, s)
		n += len(s) + 1
	}
	return out
}

package pki

import (
	"crypto/x509"
	"net"
	"slices"
	"strings"
)

// defaultHosts are the names every client may use for the API server: itself
// on loopback, and pods through the kubernetes Service (10.96.0.1 is its
// ClusterIP, the first address of the default service range).
var defaultHosts = []string{
	"127.0.0.1", "::1", "localhost",
	"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
	"10.96.0.1",
}

// sans are a serving certificate's subject alternative names.
type sans struct {
	ips []net.IP
	dns []string
}

// loopbackHosts are the names a process uses for a server on its own machine.
var loopbackHosts = []string{"127.0.0.1", "::1", "localhost"}

// parseHosts sorts base and hosts into IPs and DNS names, dropping
// duplicates, ports and unspecified addresses (0.0.0.0 and :: are listen
// addresses, never dialled names).
func parseHosts(base, hosts []string) sans {
	var s sans
	for _, h := range slices.Concat(base, hosts) {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]")
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() && !slices.ContainsFunc(s.ips, ip.Equal) {
				s.ips = append(s.ips, ip)
			}
			continue
		}
		h = strings.ToLower(h)
		if !slices.Contains(s.dns, h) {
			s.dns = append(s.dns, h)
		}
	}
	return s
}

// coveredBy reports whether c names every IP and DNS name in s.
func (s sans) coveredBy(c *x509.Certificate) bool {
	for _, ip := range s.ips {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	for _, name := range s.dns {
		if !slices.ContainsFunc(c.DNSNames, func(d string) bool { return strings.EqualFold(d, name) }) {
			return false
		}
	}
	return true
}

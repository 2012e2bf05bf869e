package cluster

import (
	"net/netip"
	"testing"
)

// TestDNSNodeAddr: the built-in resolver listens on the advertised IP too
// unless --dns-addr already covers it, and is advertised where it answers.
func TestDNSNodeAddr(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.5")
	tests := []struct {
		dnsAddr        string
		ip             netip.Addr
		wantNode       string
		serving        string // what the resolver then reports
		wantAdvertised string
	}{
		{"127.0.0.1:10053", ip, "10.0.0.5:10053", "127.0.0.1:10053", "10.0.0.5:10053"},
		{"0.0.0.0:10053", ip, "", "0.0.0.0:10053", "10.0.0.5:10053"},
		{":53", ip, "", "[::]:53", "10.0.0.5:53"},
		{"10.0.0.5:53", ip, "", "10.0.0.5:53", "10.0.0.5:53"},
		{"127.0.0.1:10053", netip.MustParseAddr("127.0.0.1"), "", "127.0.0.1:10053", "127.0.0.1:10053"},
		{"127.0.0.2:0", netip.MustParseAddr("127.0.0.2"), "", "127.0.0.2:41234", "127.0.0.2:41234"},
		{"127.0.0.1:0", ip, "", "127.0.0.1:41234", ""}, // a port of the kernel's choosing: not advertised elsewhere
		{"192.168.1.1:53", ip, "10.0.0.5:53", "192.168.1.1:53", "10.0.0.5:53"},
	}
	for _, tt := range tests {
		node := dnsNodeAddr(tt.dnsAddr, tt.ip)
		if node != tt.wantNode {
			t.Errorf("dnsNodeAddr(%q, %s) = %q, want %q", tt.dnsAddr, tt.ip, node, tt.wantNode)
		}
		got := dnsAdvertise(tt.serving, node, tt.ip)
		if want, _ := netip.ParseAddrPort(tt.wantAdvertised); got != want {
			t.Errorf("dnsAdvertise(%q, %q, %s) = %v, want %v", tt.serving, node, tt.ip, got, want)
		}
	}
}

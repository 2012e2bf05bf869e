package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/nodeagent"
)

// advertiseIP is the address other machines reach this server at: its API
// (in the `kubernetes` endpoints and the join commands), its etcd member's
// peer and client URLs. It is --advertise-address, else the API's listen
// address, else — when the API listens on every address (0.0.0.0) — the
// node IP (--node-ip, or the address of the default route's interface),
// as kube-apiserver picks its --advertise-address.
func advertiseIP(cfg Config) (netip.Addr, error) {
	if cfg.AdvertiseAddress != "" {
		ip, err := netip.ParseAddr(cfg.AdvertiseAddress)
		if err != nil || ip.IsUnspecified() {
			return netip.Addr{}, fmt.Errorf("--advertise-address %q: want the IP address other machines reach this server at", cfg.AdvertiseAddress)
		}
		return ip.Unmap(), nil
	}
	host, _, err := net.SplitHostPort(cfg.APIAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--api-addr %q: %w", cfg.APIAddr, err)
	}
	ip, err := hostIP(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--api-addr %q: %w", cfg.APIAddr, err)
	}
	if !ip.IsUnspecified() {
		return ip, nil
	}
	if cfg.NodeIP != "" {
		if ip, err = netip.ParseAddr(cfg.NodeIP); err != nil {
			return netip.Addr{}, fmt.Errorf("--node-ip %q: %w", cfg.NodeIP, err)
		}
		return ip.Unmap(), nil
	}
	ip, err = nodeagent.DefaultNodeIP()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("the API listens on every address and %w: give --advertise-address", err)
	}
	return ip, nil
}

// hostIP is the address a listen host names: "" and "0.0.0.0" are every
// address (unspecified); a name is resolved.
func hostIP(host string) (netip.Addr, error) {
	if host == "" {
		return netip.IPv4Unspecified(), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %q: %v", host, err)
	}
	return ips[0].Unmap(), nil
}

// advertised is the address other machines reach a listener at: its own
// IP, or ip when it listens on every address.
func advertised(listen string, ip netip.Addr) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: %w", port, err)
	}
	h, err := hostIP(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if !h.IsUnspecified() {
		ip = h
	}
	return netip.AddrPortFrom(ip, uint16(p)), nil
}

// serverName is this server's name, its etcd member's: --node-name, else
// the host name.
func serverName(cfg Config) (string, error) {
	if cfg.NodeName != "" {
		return cfg.NodeName, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("no --node-name and no host name: %w", err)
	}
	return strings.ToLower(h), nil
}

package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/shoalmesh/shoal/controlplane/registry"
	dnscluster "github.com/shoalmesh/shoal/dns/cluster"
	"github.com/shoalmesh/shoal/dns/resolver"
)

// startDNS runs the resolver of `shoal up` on in's caches: the Corefile at
// cfg.DNSConf, or the built-in one on cfg.DNSAddr, on this server's
// advertised address (see dnsNodeAddr) and on clusterAddr, the cluster DNS
// service IP, when this host runs pods. The built-in one's advertised
// address is kept in the `kube-dns` endpoints while it serves. From then on
// in.Wait also waits for the resolver, and a control plane that stops on
// its own (cancel) stops it too.
func startDNS(ctx context.Context, cancel context.CancelFunc, cfg Config, in *Instance, clusterAddr string) error {
	log := cfg.Log.With("component", "dns")
	dnscluster.UseCaches(in.Caches)
	var (
		srv      *resolver.Server
		err      error
		nodeAddr string
	)
	if cfg.DNSConf != "" {
		srv, err = resolver.StartFile(ctx, cfg.DNSConf, log)
	} else {
		nodeAddr = dnsNodeAddr(cfg.DNSAddr, in.Advertise.Addr())
		srv, err = resolver.Start(ctx, resolver.Defaults{Addr: cfg.DNSAddr, ClusterAddr: clusterAddr, NodeAddr: nodeAddr}.Corefile(), log)
	}
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	in.DNSAddr = srv.Addr()
	if cfg.DNSConf == "" {
		in.DNSAdvertise = dnsAdvertise(in.DNSAddr, nodeAddr, in.Advertise.Addr())
	}
	leaseCtx, stopLease := context.WithCancel(ctx)
	leaseDone := make(chan struct{})
	go func() {
		defer close(leaseDone)
		if in.DNSAdvertise.IsValid() {
			in.Registry.Advertise(leaseCtx, registry.KubeDNSService, in.DNSAdvertise)
		}
	}()
	controlPlane := in.done
	done := make(chan error, 1)
	go func() {
		err := <-controlPlane
		stopLease()
		<-leaseDone
		cancel()
		<-srv.Done()
		done <- err
	}()
	in.done = done
	return nil
}

// dnsNodeAddr is the extra address the built-in resolver listens on so that
// other nodes reach it: the advertised IP on --dns-addr's port, unless
// --dns-addr already covers it (that IP, or every address) or asks for a
// port of the kernel's choosing.
func dnsNodeAddr(dnsAddr string, ip netip.Addr) string {
	host, port, err := net.SplitHostPort(dnsAddr)
	if err != nil || port == "0" || !ip.IsValid() {
		return ""
	}
	if h, err := netip.ParseAddr(host); host == "" || (err == nil && (h.IsUnspecified() || h.Unmap() == ip)) {
		return ""
	}
	return net.JoinHostPort(ip.String(), port)
}

// dnsAdvertise is the address of this server's resolver in the `kube-dns`
// endpoints: the node address, or the address it serves on when that is
// the advertised IP or every address.
func dnsAdvertise(serving, nodeAddr string, ip netip.Addr) netip.AddrPort {
	if nodeAddr != "" {
		ap, _ := netip.ParseAddrPort(nodeAddr)
		return ap
	}
	ap, err := netip.ParseAddrPort(serving)
	if err != nil || !ip.IsValid() {
		return netip.AddrPort{}
	}
	if a := ap.Addr().Unmap(); a == ip || a.IsUnspecified() {
		return netip.AddrPortFrom(ip, ap.Port())
	}
	return netip.AddrPort{}
}

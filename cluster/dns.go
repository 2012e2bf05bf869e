package cluster

import (
	"context"
	"fmt"

	dnscluster "github.com/shoalmesh/shoal/dns/cluster"
	"github.com/shoalmesh/shoal/dns/resolver"
)

// startDNS runs the resolver of `shoal up` on in's caches: the Corefile at
// cfg.DNSConf, or the built-in one on cfg.DNSAddr (and clusterAddr, the
// cluster DNS service IP, when this host runs pods). From then on in.Wait also
// waits for the resolver, and a control plane that stops on its own (cancel)
// stops it too.
func startDNS(ctx context.Context, cancel context.CancelFunc, cfg Config, in *Instance, clusterAddr string) error {
	log := cfg.Log.With("component", "dns")
	dnscluster.UseCaches(in.Caches)
	var (
		srv *resolver.Server
		err error
	)
	if cfg.DNSConf != "" {
		srv, err = resolver.StartFile(ctx, cfg.DNSConf, log)
	} else {
		srv, err = resolver.Start(ctx, resolver.Defaults{Addr: cfg.DNSAddr, ClusterAddr: clusterAddr}.Corefile(), log)
	}
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	in.DNSAddr = srv.Addr()
	controlPlane := in.done
	done := make(chan error, 1)
	go func() {
		err := <-controlPlane
		cancel()
		<-srv.Done()
		done <- err
	}()
	in.done = done
	return nil
}

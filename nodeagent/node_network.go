package nodeagent

import (
	"context"
	"net/netip"
	"path/filepath"

	"github.com/shoalmesh/shoal/nodeagent/cni"
	"github.com/shoalmesh/shoal/nodeagent/network"
)

// nodeNetwork is the node side of the pod network: the pod bridge, the
// routes to other nodes' pod CIDRs, masquerading, and Shoal's CNI plugin
// and conflist that containerd calls to wire each sandbox (in
// RunPodSandbox and StopPodSandbox). Pods' own interfaces and addresses are
// the plugin's work.
type nodeNetwork interface {
	SetPeerRoutes(ctx context.Context, peers []network.Peer) error
	// Close releases it; removeBridge deletes the bridge, the peer routes,
	// the nftables table and the conflist too (no pod is left on them).
	Close(ctx context.Context, removeBridge bool) error
}

// Defaults of the cluster's address ranges: pod traffic to them is not
// masqueraded.
var (
	defaultClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")
	defaultServiceCIDR = netip.MustParsePrefix("10.96.0.0/16")
)

// setupNodeNetwork sets up the node's pod network for pod CIDR cidr with
// Shoal's CNI plugin (nodeagent/cni): the bridge with the CIDR's first
// address (the pods' gateway), forwarding and masquerading in the node's
// namespace, the plugin linked into Config.CNIBinDir and its conflist in
// Config.CNIConfDir, which the runtime reads.
func (a *Agent) setupNodeNetwork(ctx context.Context, cidr netip.Prefix) (nodeNetwork, error) {
	clusterCIDR, serviceCIDR := a.cfg.ClusterCIDR, a.cfg.ServiceCIDR
	if !clusterCIDR.IsValid() && defaultClusterCIDR.Contains(cidr.Addr()) && defaultClusterCIDR.Bits() <= cidr.Bits() {
		clusterCIDR = defaultClusterCIDR
	}
	if !serviceCIDR.IsValid() && !defaultServiceCIDR.Overlaps(cidr) &&
		!(clusterCIDR.IsValid() && defaultServiceCIDR.Overlaps(clusterCIDR)) {
		serviceCIDR = defaultServiceCIDR
	}
	n, err := cni.SetupNode(ctx, cni.NodeConfig{
		NetNS:       a.cfg.NetNS,
		Bridge:      a.cfg.Bridge,
		PodCIDR:     cidr,
		NodeIP:      a.cfg.NodeIP,
		ClusterCIDR: clusterCIDR,
		ServiceCIDR: serviceCIDR,
		StateDir:    filepath.Join(a.cfg.DataDir, "cni"),
		BinDir:      a.cfg.CNIBinDir,
		ConfDir:     a.cfg.CNIConfDir,
		Logger:      a.cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

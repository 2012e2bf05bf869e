package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/shoalmesh/shoal/internal/atomicfile"
	"github.com/shoalmesh/shoal/nodeagent/network"
)

// nodeNetwork is the node side of the pod network: the pod bridge, the
// routes to other nodes' pod CIDRs and the CNI configuration containerd
// reads to wire each sandbox (it calls the plugins in RunPodSandbox and
// StopPodSandbox). Pods' own interfaces and IPs are the CNI plugins' work.
type nodeNetwork interface {
	SetPeerRoutes(ctx context.Context, peers []network.Peer) error
	// Close releases it; removeBridge deletes the bridge and the peer
	// routes too (no pod is left on them).
	Close(ctx context.Context, removeBridge bool) error
}

// cniConfName is the agent's conflist; containerd uses the first in its
// conf dir.
const cniConfName = "10-shoal.conflist"

// setupNodeNetwork prepares the node's pod network for pod CIDR cidr: the
// bridge (with the CIDR's first address, the pods' gateway) and forwarding
// in the node's namespace, and a conflist for the stock bridge and
// host-local plugins on that bridge in confDir. With confDir "" (a runtime
// given by endpoint, whose CNI configuration is its own) it writes none.
func (a *Agent) setupNodeNetwork(ctx context.Context, cidr netip.Prefix, confDir string) (nodeNetwork, error) {
	n, err := network.New(ctx, network.Config{
		Bridge:         a.cfg.Bridge,
		PodCIDR:        cidr,
		NodeIP:         a.cfg.NodeIP,
		NetNS:          a.cfg.NetNS,
		StateDir:       filepath.Join(a.cfg.DataDir, "network"),
		NetnsDir:       a.cfg.NetnsDir,
		ClusterDNS:     a.cfg.ClusterDNS,
		ClusterDomain:  a.cfg.ClusterDomain,
		HostResolvConf: a.cfg.HostResolvConf,
		Logger:         a.cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	if confDir != "" {
		conf := bridgeConflist(a.cfg.Bridge, cidr, filepath.Join(a.cfg.DataDir, "cni", "ipam"))
		if err := writeConflist(confDir, conf); err != nil {
			n.Close(ctx, true)
			return nil, err
		}
	}
	return bridgeNetwork{n}, nil
}

// bridgeNetwork adapts network.Network (bridge and routes) to nodeNetwork.
type bridgeNetwork struct{ *network.Network }

func (b bridgeNetwork) Close(ctx context.Context, removeBridge bool) error {
	if removeBridge {
		return b.Destroy(ctx)
	}
	return b.Network.Close(ctx, true)
}

// bridgeConflist is the stock bridge + host-local configuration on bridge
// for the pod CIDR, its first address the gateway (the bridge's).
func bridgeConflist(bridge string, cidr netip.Prefix, ipamDir string) []byte {
	type m = map[string]any
	conf := m{
		"cniVersion": "1.0.0",
		"name":       "shoal",
		"plugins": []m{{
			"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
			"ipam": m{
				"type":    "host-local",
				"ranges":  [][]m{{{"subnet": cidr.String(), "gateway": cidr.Addr().Next().String()}}},
				"dataDir": ipamDir,
				"routes":  []m{{"dst": "0.0.0.0/0"}},
			},
		}},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return b
}

func writeConflist(dir string, conf []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cni conf dir: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, cniConfName), conf, 0o644); err != nil {
		return fmt.Errorf("write cni conflist: %w", err)
	}
	return nil
}

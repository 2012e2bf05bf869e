package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/shoalmesh/shoal/nodeagent/network"
	"github.com/shoalmesh/shoal/nodeagent/network/ipam"
)

// Names in the conflist.
const (
	// NetworkName is the network's name in the conflist.
	NetworkName = "shoal"
	// PluginType is the plugin's type, and so its file name in BinDir.
	PluginType = "shoal"
	// ConfListName is the file SetupNode writes into ConfDir; containerd
	// uses the first conflist there by name.
	ConfListName = "10-shoal.conflist"
	// confVersion is the spec version of the conflist SetupNode writes.
	confVersion = "1.0.0"
)

// netConf is the shoal plugin's own part of its conflist entry.
type netConf struct {
	Bridge   string `json:"bridge"`
	PodCIDR  string `json:"podCIDR"`
	Gateway  string `json:"gateway,omitempty"`
	StateDir string `json:"stateDir"`
	MTU      int    `json:"mtu,omitempty"`
	// NodeNetNS is the node's namespace, where the bridge is; "" for the
	// plugin's own (containerd's).
	NodeNetNS string `json:"nodeNetns,omitempty"`
}

// confEntry is the plugin's entry as SetupNode writes it.
type confEntry struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities,omitempty"`
	netConf
}

type confList struct {
	CNIVersion string      `json:"cniVersion"`
	Name       string      `json:"name"`
	Plugins    []confEntry `json:"plugins"`
}

// stdinConf is what the plugin reads on stdin: its entry with the fields
// the runtime adds (cniVersion, name, prevResult, runtimeConfig).
type stdinConf struct {
	types.PluginConf
	netConf
	RuntimeConfig struct {
		PortMappings []portMapping `json:"portMappings,omitempty"`
	} `json:"runtimeConfig,omitzero"`
}

// portMapping is the portMappings capability's element, as the CRI
// runtimes pass it.
type portMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// pluginConf is a parsed and checked stdinConf.
type pluginConf struct {
	stdinConf
	podCIDR netip.Prefix
	gateway netip.Addr
	ports   []network.HostPort
}

// parseConf parses and checks the plugin's configuration; its errors are
// CNI errors with code 6 (decoding) or 7 (invalid configuration).
func parseConf(stdin []byte) (*pluginConf, error) {
	var c pluginConf
	if err := json.Unmarshal(stdin, &c.stdinConf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "shoal: parse network configuration: "+err.Error(), "")
	}
	bad := func(format string, args ...any) error {
		return types.NewError(types.ErrInvalidNetworkConfig, "shoal: network configuration: "+fmt.Sprintf(format, args...), "")
	}
	if err := checkBridge(c.Bridge); err != nil {
		return nil, bad("bridge %v", err)
	}
	p, err := netip.ParsePrefix(c.PodCIDR)
	if err == nil {
		err = ipam.CheckPrefix(p)
	}
	if err != nil {
		return nil, bad("podCIDR %q: %v", c.PodCIDR, err)
	}
	c.podCIDR, c.gateway = p, network.Gateway(p)
	if c.Gateway != "" {
		if gw, err := netip.ParseAddr(c.Gateway); err != nil || gw != c.gateway {
			return nil, bad("gateway %q: the bridge's address is the pod CIDR's first, %v", c.Gateway, c.gateway)
		}
	}
	if !filepath.IsAbs(c.StateDir) {
		return nil, bad("stateDir %q: want an absolute path", c.StateDir)
	}
	if c.NodeNetNS != "" && !filepath.IsAbs(c.NodeNetNS) {
		return nil, bad("nodeNetns %q: want an absolute path", c.NodeNetNS)
	}
	if err := checkMTU(c.MTU); err != nil {
		return nil, bad("%v", err)
	}
	for i, m := range c.RuntimeConfig.PortMappings {
		hp := network.HostPort{Protocol: strings.ToLower(m.Protocol)}
		if hp.Protocol == "" {
			hp.Protocol = "tcp"
		}
		if m.HostPort < 1 || m.HostPort > 65535 || m.ContainerPort < 1 || m.ContainerPort > 65535 {
			return nil, bad("runtimeConfig.portMappings[%d]: ports %d→%d: want 1..65535", i, m.HostPort, m.ContainerPort)
		}
		hp.HostPort, hp.ContainerPort = uint16(m.HostPort), uint16(m.ContainerPort)
		if m.HostIP != "" && m.HostIP != "0.0.0.0" && m.HostIP != "::" {
			if hp.HostIP, err = netip.ParseAddr(m.HostIP); err != nil {
				return nil, bad("runtimeConfig.portMappings[%d]: hostIP %q: %v", i, m.HostIP, err)
			}
		}
		c.ports = append(c.ports, hp)
	}
	if err := network.CheckHostPorts(c.ports); err != nil {
		return nil, bad("runtimeConfig.portMappings: %v", err)
	}
	return &c, nil
}

func (c *pluginConf) ipamPath() string { return filepath.Join(c.StateDir, ipamFile) }

// renderConfList is the conflist SetupNode writes for cfg (after defaults).
func renderConfList(cfg NodeConfig) ([]byte, error) {
	l := confList{
		CNIVersion: confVersion,
		Name:       NetworkName,
		Plugins: []confEntry{{
			Type:         PluginType,
			Capabilities: map[string]bool{"portMappings": true},
			netConf: netConf{
				Bridge:    cfg.Bridge,
				PodCIDR:   cfg.PodCIDR.String(),
				Gateway:   network.Gateway(cfg.PodCIDR).String(),
				StateDir:  cfg.StateDir,
				MTU:       cfg.MTU,
				NodeNetNS: cfg.NetNS,
			},
		}},
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode conflist: %w", err)
	}
	return append(b, '\n'), nil
}

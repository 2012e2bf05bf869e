package cni

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"

	"github.com/shoalmesh/shoal/nodeagent/network"
)

// An attachment is one container's interface, as CNI names it: container
// ID and interface name. Every name derives from the pair, so DEL needs no
// state to find what ADD made:
//
//	IPAM owner   <container ID>/<ifname>
//	host veth    veth<first 11 hex digits of sha256(owner)>   (15 bytes, the kernel's limit)
//	veth alias   shoal-cni:<bridge>:<owner>                   (whose it is; never an old agent's)
//	hostPorts    nftables rules commented <owner>
const (
	vethPrefix  = "veth"
	vethHexLen  = 11
	aliasPrefix = "shoal-cni:"
	ipamFile    = "ipam.json"
	lockFile    = "node.lock"
)

type attachment struct {
	owner, ifName, hostVeth, alias string
}

func newAttachment(bridge, containerID, ifName string) attachment {
	owner := containerID + "/" + ifName
	sum := sha256.Sum256([]byte(owner))
	alias := aliasPrefix + bridge + ":" + owner
	if len(alias) > 255 { // IFALIASZ-1
		alias = alias[:255]
	}
	return attachment{
		owner:    owner,
		ifName:   ifName,
		hostVeth: vethPrefix + hex.EncodeToString(sum[:])[:vethHexLen],
		alias:    alias,
	}
}

// podLink is the veth pair of a with the pod address ip.
func (a attachment) podLink(c *pluginConf, ip netip.Addr) network.PodLink {
	return network.PodLink{
		HostVeth: a.hostVeth,
		Alias:    a.alias,
		IfName:   a.ifName,
		Addr:     netip.PrefixFrom(ip, c.podCIDR.Bits()),
		Gateway:  c.gateway,
		MTU:      c.MTU,
	}
}

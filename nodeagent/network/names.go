package network

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"regexp"
)

// A sandbox is named by an ID derived from its pod's UID, so every name is
// stable across restarts and computable without the state directory:
//
//	ID              first 10 hex digits of sha256(UID)          3f2a9c01bd
//	network ns      <NetnsDir>/shoal-<ID>                      /run/netns/shoal-3f2a9c01bd
//	host veth       shoal<ID> (15 bytes, the kernel's limit)    shoal3f2a9c01bd
//	veth alias      shoal:<bridge>:<UID>                        shoal:shoal0:6e1c…
//	pod interface   eth0 in the pod's namespace
//	state           <StateDir>/sandboxes/<ID>/
//
// The alias ties a host veth to its bridge and pod, so adoption removes only
// veths this Network made, and a hash collision is detected, not shared.
const (
	idLen         = 10
	netnsPrefix   = "shoal-"
	vethPrefix    = "shoal"
	aliasPrefix   = "shoal:"
	podInterface  = "eth0"
	sandboxSubdir = "sandboxes"
)

var (
	netnsNameRE = regexp.MustCompile(`^shoal-[0-9a-f]{10}$`)
	vethNameRE  = regexp.MustCompile(`^shoal[0-9a-f]{10}$`)
	sandboxIDRE = regexp.MustCompile(`^[0-9a-f]{10}$`)
)

// SandboxID is the stable short ID that names a pod's network namespace,
// host veth and state directory.
func SandboxID(uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(sum[:])[:idLen]
}

// NetNSName is the name of the pod's network namespace in NetnsDir.
func NetNSName(uid string) string { return netnsPrefix + SandboxID(uid) }

// HostVethName is the name of the host side of the pod's veth pair.
func HostVethName(uid string) string { return vethPrefix + SandboxID(uid) }

func (n *Network) netnsPath(id string) string {
	return filepath.Join(n.cfg.NetnsDir, netnsPrefix+id)
}

func (n *Network) sandboxDir(id string) string {
	return filepath.Join(n.cfg.StateDir, sandboxSubdir, id)
}

func (n *Network) vethAlias(uid string) string {
	a := aliasPrefix + n.cfg.Bridge + ":" + uid
	if len(a) > 255 { // IFALIASZ-1
		a = a[:255]
	}
	return a
}

func (n *Network) ownsAlias(alias string) bool {
	p := aliasPrefix + n.cfg.Bridge + ":"
	return len(alias) > len(p) && alias[:len(p)] == p
}

// Package cni is Shoal's pod network as a CNI plugin, which containerd calls
// for every pod sandbox, and the node-level set-up the plugin relies on.
// The kernel work is nodeagent/network's (bridge, veth pairs, peer routes,
// nftables); addresses come from nodeagent/network/ipam.
//
// # The plugin
//
// The plugin is the shoal binary itself: Main, called first thing in main
// (and in TestMain of test packages whose tests start containerd with this
// plugin), runs the plugin and exits when the process was started as one
// (CNI_COMMAND set). It speaks CNI spec 0.4.0 and 1.0.0, what containerd 1.6
// speaks:
//
//   - ADD creates a veth pair, its host side (veth<11 hex digits of the
//     container ID and interface>) on the bridge and its pod side, named
//     CNI_IFNAME (eth0), directly inside the sandbox's namespace; gives the
//     pod the next free address of the node's pod CIDR (persisted before it
//     is configured) and a default route via the bridge; adds the sandbox's
//     hostPorts (the portMappings capability) as DNAT rules; and returns
//     the interfaces, the address and the route. A repeated ADD returns the
//     same address. A failed ADD leaves nothing behind.
//   - DEL removes the veth and the hostPort rules, then releases the
//     address. It is idempotent: a namespace or veth already gone is fine.
//   - CHECK verifies what ADD made, against the prevResult too.
//   - VERSION lists 0.4.0 and 1.0.0.
//
// Loopback is not this plugin's: containerd brings lo up with the stock
// loopback plugin, which SetupNode links into the bin directory.
//
// Several plugin processes run at once (containerd starts sandboxes in
// parallel): the address allocations live in <StateDir>/ipam.json and every
// change to them is made under a file lock (ipam.Update), so concurrent
// ADDs get distinct addresses and a restarted node never hands out one in
// use.
//
// # The node
//
//	nn, err := cni.SetupNode(ctx, cni.NodeConfig{
//		PodCIDR:     netip.MustParsePrefix("10.244.3.0/24"), // the Node's spec.podCIDR
//		NodeIP:      nodeIP,
//		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
//		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
//		StateDir:    filepath.Join(dataDir, "cni"),
//		BinDir:      filepath.Join(dataDir, "cni", "bin"),  // containerd's bin_dir
//		ConfDir:     filepath.Join(dataDir, "cni", "conf"), // containerd's conf_dir
//		Logger:      logger,
//	})
//	err = nn.SetPeerRoutes(ctx, []cni.Peer{{PodCIDR: otherCIDR, NodeIP: otherNodeIP}})
//	err = nn.Close(ctx, false) // keep the network for running pods, or true to remove it
//
// SetupNode works in NodeConfig.NetNS (a namespace playing a node) or in the
// caller's. It enables IPv4 forwarding, creates or adopts the bridge (shoal0)
// with the gateway address (the pod CIDR's first), writes the nftables table
// shoal-<bridge> (masquerading of traffic from the pod CIDR to anything
// outside the cluster and service CIDRs, and the hostPort chains), links the
// plugin into BinDir (a symlink named shoal to the running executable, and
// loopback from /usr/lib/cni) and writes ConfDir/10-shoal.conflist:
//
//	{"cniVersion": "1.0.0", "name": "shoal", "plugins": [{"type": "shoal",
//	  "bridge": "shoal0", "podCIDR": "10.244.3.0/24", "gateway": "10.244.3.1",
//	  "stateDir": "...", "capabilities": {"portMappings": true}}]}
//
// All of it is idempotent, so an agent restarted while pods run calls it
// again: the masquerade rule is rewritten, the pods' veths, addresses and
// hostPort rules stay. Close with removeBridge deletes the bridge, the
// peer routes, the nftables table, the conflist and the links.
//
// Limits: IPv4 only; a hostPort is reached through the node's addresses
// but not through 127.0.0.1, and not by the pod that serves it (no
// hairpin); two pods asking for one hostPort are not refused here (the
// scheduler's job); an allocation whose sandbox vanished without a DEL
// (its state wiped) is kept until the state directory is.
package cni

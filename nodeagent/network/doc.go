// Package network is the kernel side of the pod network: a bridge per node,
// a veth pair per pod, host-gw routes to other nodes' pods, and an nftables
// table per node for masquerading and hostPorts. It works with netlink and
// nf_tables only (no iptables) and needs root (CAP_NET_ADMIN, and
// CAP_SYS_ADMIN for namespace mounts).
//
// The functions on netlink handles are what Shoal's CNI plugin
// (nodeagent/cni) and its node set-up are made of:
//
//	EnsureBridge, DeleteBridge, Gateway   the node's bridge and its address
//	AttachPod, CheckPod, DeleteHostVeth   a pod's veth pair, address and default route
//	CheckPeers, ReplacePeerRoutes         host-gw routes to other nodes' pod CIDRs
//	EnableForwarding                      IPv4 forwarding in a namespace
//	SetMasquerade, SetHostPorts, DeleteNAT  the node's nftables table (see nat.go)
//
// Addresses come from the ipam subpackage.
//
// # The Network type (the process runtime's)
//
// Network is the pod network of the process runtime, which makes each pod's
// namespace itself and bind-mounts the resolv.conf and hosts files written
// here. When the node agent runs every pod through containerd and
// nodeagent/cni, it goes: network.go, sandbox.go, record.go, adopt.go,
// dns.go, files.go, netns.go, names.go, config.go (but DefaultBridge) and
// their tests
// (containerd writes resolv.conf and hosts from the CRI DNS config). It is
// described below.
//
// # Usage
//
//	net, err := network.New(ctx, network.Config{
//		PodCIDR:  netip.MustParsePrefix("10.244.3.0/24"), // the Node's spec.podCIDR
//		NodeIP:   nodeIP,
//		StateDir: "/var/lib/shoal/network",
//		Logger:   logger,
//	})
//	// net.Sandboxes() now lists the pods a previous agent left running:
//	// tear down those the node should no longer run.
//
//	sb, err := net.Setup(ctx, network.Pod{UID: string(pod.UID), Namespace: pod.Namespace,
//		Name: pod.Name, Hostname: pod.Spec.Hostname, Subdomain: pod.Spec.Subdomain,
//		HostNetwork: pod.Spec.HostNetwork, DNSPolicy: network.DNSPolicy(pod.Spec.DNSPolicy)})
//	// The runtime joins sb.NetNSPath if set (a hostNetwork pod's is
//	// Config.NetNS), bind-mounts sb.ResolvConfPath on /etc/resolv.conf and
//	// sb.HostsPath (if set) on /etc/hosts, and the agent reports sb.IP as
//	// status.podIP.
//
//	err = net.SetPeerRoutes(ctx, []network.Peer{{PodCIDR: otherCIDR, NodeIP: otherNodeIP}})
//	err = net.Teardown(ctx, string(pod.UID)) // after the pod's processes are gone
//	err = net.Close(ctx, keepPods)           // or net.Destroy(ctx) to leave nothing
//
// # What New does to the node
//
// New works in the node's network namespace: Config.NetNS (a namespace that
// plays a node, when one machine runs several), or else that of the thread
// that calls it. Everything of the node side lives there: bridge, host
// veths, peer routes, and the hostNetwork pods (Sandbox.NetNSPath names it
// for them); internal/netns.DoPath runs code there, for sockets a process
// opens in its node's namespace. It creates or adopts the bridge (default shoal0) with the
// first address of the pod CIDR (10.244.N.1/24) and a fixed MAC, brings it up,
// and enables IPv4 forwarding in that namespace. Forwarding is left enabled
// by Close and Destroy.
//
// Network installs no SNAT: pods reach the node (its addresses, and the
// service VIPs the node proxy binds there) and other nodes' pods, whose
// traffic keeps the pod IP as source; SetMasquerade is nodeagent/cni's.
//
// # Names
//
// Every name derives from the pod UID through SandboxID, the first 10 hex
// digits of its SHA-256:
//
//	network namespace  <NetnsDir>/shoal-<id>  (default NetnsDir /run/netns, so `ip netns` lists it)
//	host veth          shoal<id>  (15 bytes), on the bridge, alias "shoal:<bridge>:<uid>"
//	pod interface      eth0, created directly inside the pod's namespace
//	pod routes         the pod CIDR on eth0, default via the bridge address
//	peer routes        in the main table with protocol 83 (RouteProtocol): `ip route show proto 83`
//
// # State
//
// StateDir holds:
//
//	lock                           flock held while a Network is open (ErrStateLocked otherwise)
//	ipam.json                      the pod CIDR, the last address handed out, address → pod UID
//	sandboxes/<id>/sandbox.json    the pod, its IP, netns path, veth, and whether setup completed
//	sandboxes/<id>/resolv.conf     the file for the pod's /etc/resolv.conf
//	sandboxes/<id>/hosts           the file for the pod's /etc/hosts (not for hostNetwork pods)
//
// An IP is persisted (atomically) before it is configured, and released only
// after the pod's veth and namespace are gone, so a restarted agent never
// hands out an address in use. Addresses go round-robin, so a released one is
// reused last. The network address, the bridge's and the broadcast address
// are never handed out.
//
// # Restart
//
// New reconciles StateDir with the kernel before it returns: a completed
// sandbox whose namespace is still pinned is adopted and repaired (veth,
// address, routes and files re-made if missing); a sandbox of an interrupted
// Setup, one whose namespace is gone (after a reboot) or whose IP is outside
// the current pod CIDR is torn down and its IP released; an IP owned by no
// sandbox, a shoal-<id> namespace in NetnsDir or a veth with this bridge's
// alias that no sandbox records is removed. A Network therefore owns its
// NetnsDir and StateDir: agents sharing a mount namespace need their own.
//
// # DNS
//
// Pods get the Kubernetes resolv.conf for their dnsPolicy. ClusterFirst (the
// default) is exactly
//
//	nameserver 10.96.0.10
//	search <namespace>.svc.cluster.local svc.cluster.local cluster.local
//	options ndots:5
//
// without the node's search domains that kubelet appends. As in Kubernetes, a
// hostNetwork pod with ClusterFirst gets the node's resolv.conf
// (Config.HostResolvConf) and one with ClusterFirstWithHostNet the cluster's;
// Default and None, and dnsConfig merging, mean what they mean in Kubernetes.
// A hostNetwork pod gets no hosts file: it sees the node's /etc/hosts.
package network

package cni

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"

	"github.com/shoalmesh/shoal/internal/netns"
	"github.com/shoalmesh/shoal/nodeagent/network"
	"github.com/shoalmesh/shoal/nodeagent/network/ipam"
)

// SpecVersions are the CNI spec versions the plugin speaks.
var SpecVersions = []string{"0.4.0", "1.0.0"}

// Main runs the CNI plugin and exits if the process was started as one
// (CNI_COMMAND is set), and returns at once otherwise. Call it first thing
// in main, and in TestMain of test packages whose tests start containerd
// with this plugin: containerd runs the plugin from the test binary then.
func Main() {
	if os.Getenv("CNI_COMMAND") == "" {
		return
	}
	funcs := skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck}
	if e := skel.PluginMainFuncsWithError(funcs, version.PluginSupports(SpecVersions...), "Shoal's pod network CNI plugin"); e != nil {
		if err := e.Print(); err != nil {
			fmt.Fprintf(os.Stderr, "shoal cni: write error result: %v (error: %v)\n", err, e)
		}
		os.Exit(1)
	}
	os.Exit(0)
}

// plugin is one call's configuration and its netlink handle in the node's
// namespace.
type plugin struct {
	conf *pluginConf
	node netns.Handle // netns.None() for the plugin's own namespace
	nl   *netlink.Handle
	att  attachment
}

func openPlugin(args *skel.CmdArgs) (*plugin, error) {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return nil, err
	}
	p := &plugin{conf: conf, node: netns.None(), att: newAttachment(conf.Bridge, args.ContainerID, args.IfName)}
	if conf.NodeNetNS != "" {
		if p.node, err = netns.Open(conf.NodeNetNS); err != nil {
			return nil, types.NewError(types.ErrInvalidNetworkConfig, "shoal: node namespace: "+err.Error(), "")
		}
	}
	if p.nl, err = netlink.NewHandleAt(p.node); err != nil {
		p.close()
		return nil, fmt.Errorf("shoal: open netlink in the node namespace: %w", err)
	}
	return p, nil
}

func (p *plugin) close() {
	if p.nl != nil {
		p.nl.Close()
	}
	if p.node.IsOpen() {
		p.node.Close()
	}
}

// podNS opens the sandbox's namespace and a netlink handle in it.
func podNS(path string) (netns.Handle, *netlink.Handle, error) {
	ns, err := netns.Open(path)
	if err != nil {
		return ns, nil, types.NewError(types.ErrInvalidNetNS, "shoal: sandbox namespace: "+err.Error(), "")
	}
	pnl, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return netns.None(), nil, fmt.Errorf("shoal: open netlink in %s: %w", path, err)
	}
	return ns, pnl, nil
}

// bridge returns the bridge, creating it if it is missing or down (a node
// whose set-up has not run, or someone deleted it).
func (p *plugin) bridge() (netlink.Link, error) {
	l, err := p.nl.LinkByName(p.conf.Bridge)
	if err == nil && l.Type() == "bridge" && l.Attrs().Flags&net.FlagUp != 0 {
		return l, nil
	}
	return network.EnsureBridge(p.nl, p.conf.Bridge, p.conf.podCIDR, p.conf.MTU)
}

func cmdAdd(args *skel.CmdArgs) (err error) {
	p, err := openPlugin(args)
	if err != nil {
		return err
	}
	defer p.close()
	ns, pnl, err := podNS(args.Netns)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer pnl.Close()

	var ip netip.Addr
	err = ipam.Update(p.conf.ipamPath(), p.conf.podCIDR, func(a *ipam.Allocator) (err error) {
		ip, err = a.Allocate(p.att.owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("shoal: allocate an address in %v for %s: %w", p.conf.podCIDR, p.att.owner, err)
	}
	defer func() {
		if err != nil {
			if cerr := p.detach(args.Netns); cerr != nil {
				err = errors.Join(err, fmt.Errorf("clean up: %w", cerr))
			}
		}
	}()
	br, err := p.bridge()
	if err != nil {
		return fmt.Errorf("shoal: %w", err)
	}
	link := p.att.podLink(p.conf, ip)
	host, pod, err := network.AttachPod(p.nl, br, ns, pnl, link)
	if err != nil {
		return fmt.Errorf("shoal: attach %s: %w", p.att.owner, err)
	}
	if len(p.conf.ports) > 0 {
		if err := network.SetHostPorts(p.node, network.NATTable(p.conf.Bridge), p.att.owner, ip, p.conf.ports); err != nil {
			return fmt.Errorf("shoal: %w", err)
		}
	}
	res := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{
			{Name: host.Attrs().Name, Mac: host.Attrs().HardwareAddr.String(), Mtu: host.Attrs().MTU},
			{Name: pod.Attrs().Name, Mac: pod.Attrs().HardwareAddr.String(), Mtu: pod.Attrs().MTU, Sandbox: args.Netns},
		},
		IPs: []*current.IPConfig{{
			Interface: current.Int(1),
			Address:   net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(p.conf.podCIDR.Bits(), 32)},
			Gateway:   p.conf.gateway.AsSlice(),
		}},
		Routes: []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: p.conf.gateway.AsSlice()}},
	}
	return types.PrintResult(res, p.conf.CNIVersion)
}

func cmdDel(args *skel.CmdArgs) error {
	p, err := openPlugin(args)
	if err != nil {
		return err
	}
	defer p.close()
	return p.detach(args.Netns)
}

// detach undoes ADD: the veth (from the pod side, if the sandbox's
// namespace is still there, and from the host side by its name), the
// hostPort rules, then the address. If the veth cannot be removed the
// address is kept, so it is never handed out while in use.
func (p *plugin) detach(nsPath string) error {
	if nsPath != "" {
		if ok, _ := netns.IsNamespace(nsPath); ok {
			if err := deletePodSide(nsPath, p.att.ifName); err != nil {
				return fmt.Errorf("shoal: %w", err)
			}
		}
	}
	if err := network.DeleteHostVeth(p.nl, p.att.hostVeth, p.att.alias); err != nil {
		return fmt.Errorf("shoal: %w", err)
	}
	if err := network.SetHostPorts(p.node, network.NATTable(p.conf.Bridge), p.att.owner, netip.Addr{}, nil); err != nil {
		return fmt.Errorf("shoal: %w", err)
	}
	err := ipam.Update(p.conf.ipamPath(), p.conf.podCIDR, func(a *ipam.Allocator) error { return a.Release(p.att.owner) })
	if err != nil {
		return fmt.Errorf("shoal: release the address of %s: %w", p.att.owner, err)
	}
	return nil
}

// deletePodSide deletes the veth ifName inside the namespace at path, and
// with it its host side.
func deletePodSide(path, ifName string) error {
	ns, pnl, err := podNS(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer pnl.Close()
	l, err := pnl.LinkByName(ifName)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", ifName, path, err)
	}
	if l.Type() != "veth" {
		return nil
	}
	if err := pnl.LinkDel(l); err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete %s in %s: %w", ifName, path, err)
	}
	return nil
}

func cmdCheck(args *skel.CmdArgs) error {
	p, err := openPlugin(args)
	if err != nil {
		return err
	}
	defer p.close()
	var (
		ip netip.Addr
		ok bool
	)
	err = ipam.Update(p.conf.ipamPath(), p.conf.podCIDR, func(a *ipam.Allocator) error {
		ip, ok = a.Lookup(p.att.owner)
		return nil
	})
	if err != nil {
		return fmt.Errorf("shoal: %w", err)
	}
	if !ok {
		return types.NewError(types.ErrUnknownContainer, fmt.Sprintf("shoal: no address is allocated to %s", p.att.owner), "")
	}
	if err := checkPrevResult(&p.conf.PluginConf, ip, args.IfName); err != nil {
		return err
	}
	ns, pnl, err := podNS(args.Netns)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer pnl.Close()
	br, err := p.nl.LinkByName(p.conf.Bridge)
	if err != nil {
		return fmt.Errorf("shoal: bridge %s: %w", p.conf.Bridge, err)
	}
	if err := network.CheckPod(p.nl, br, pnl, p.att.podLink(p.conf, ip)); err != nil {
		return fmt.Errorf("shoal: check %s: %w", p.att.owner, err)
	}
	return nil
}

// checkPrevResult checks that the runtime's prevResult, if there is one,
// gives the interface the address IPAM holds for it.
func checkPrevResult(conf *types.PluginConf, ip netip.Addr, ifName string) error {
	if err := version.ParsePrevResult(conf); err != nil {
		return types.NewError(types.ErrDecodingFailure, "shoal: prevResult: "+err.Error(), "")
	}
	if conf.PrevResult == nil {
		return nil
	}
	prev, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "shoal: prevResult: "+err.Error(), "")
	}
	for _, c := range prev.IPs {
		if a, ok := netip.AddrFromSlice(c.Address.IP); ok && a.Unmap() == ip {
			if c.Interface == nil || *c.Interface >= len(prev.Interfaces) || prev.Interfaces[*c.Interface].Name == ifName {
				return nil
			}
		}
	}
	return fmt.Errorf("shoal: prevResult does not give %s the address %v that is allocated to it", ifName, ip)
}

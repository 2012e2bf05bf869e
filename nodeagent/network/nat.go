package network

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/shoalmesh/shoal/internal/netns"
)

// A node's NAT is one nftables table of its own, family ip, named by
// NATTable ("shoal-<bridge>"); nothing else of the ruleset is touched:
//
//	table ip shoal-shoal0 {
//		chain postrouting {	# SetMasquerade
//			type nat hook postrouting priority srcnat;
//			ip saddr <pod CIDR> ip daddr != <cluster CIDR> ip daddr != <service CIDR> masquerade
//		}
//		chain prerouting {	# SetMasquerade
//			type nat hook prerouting priority dstnat;
//			fib daddr type local jump hostports
//		}
//		chain output {	# SetMasquerade
//			type nat hook output priority dstnat;
//			fib daddr type local jump hostports
//		}
//		chain hostports {	# SetHostPorts, a rule per port, commented with its owner
//			meta l4proto tcp [ip daddr <host IP>] th dport 8080 dnat to 10.244.3.7:80 comment "<owner>"
//		}
//	}
const (
	natPostrouting = "postrouting"
	natPrerouting  = "prerouting"
	natOutput      = "output"
	natHostPorts   = "hostports"
)

// NATTable is the name of the nftables table of bridge's node.
func NATTable(bridge string) string { return "shoal-" + bridge }

// Masquerade says what SetMasquerade SNATs: traffic from PodCIDR to
// anything outside ClusterCIDR (the pod CIDRs of all nodes; without it,
// outside PodCIDR) and outside ServiceCIDR (if set) leaves with the address
// of the node's outgoing interface.
type Masquerade struct {
	PodCIDR, ClusterCIDR, ServiceCIDR netip.Prefix
}

// HostPort is a pod's hostPort: traffic to a node address (HostIP, or any
// if unset) on HostPort is sent to the pod's ContainerPort.
type HostPort struct {
	HostIP        netip.Addr
	HostPort      uint16
	ContainerPort uint16
	// Protocol is tcp, udp or sctp.
	Protocol string
}

func (p HostPort) String() string {
	host := ""
	if p.HostIP.IsValid() {
		host = p.HostIP.String()
	}
	return fmt.Sprintf("%s:%d/%s→%d", host, p.HostPort, p.Protocol, p.ContainerPort)
}

// protocols are the l4proto numbers hostPorts may use.
var protocols = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}

// CheckHostPorts reports the first unusable port mapping.
func CheckHostPorts(ports []HostPort) error {
	for i, p := range ports {
		switch {
		case p.HostPort == 0 || p.ContainerPort == 0:
			return fmt.Errorf("hostPort[%d] %v: ports must be 1..65535", i, p)
		case protocols[strings.ToLower(p.Protocol)] == 0:
			return fmt.Errorf("hostPort[%d] %v: protocol %q: want tcp, udp or sctp", i, p, p.Protocol)
		case p.HostIP.IsValid() && !p.HostIP.Is4():
			return fmt.Errorf("hostPort[%d] %v: host IP is not IPv4", i, p)
		}
	}
	return nil
}

// nftConn opens an nftables connection in ns (netns.None() for the calling
// thread's namespace). Close it with CloseLasting.
func nftConn(ns netns.Handle) (*nftables.Conn, error) {
	var c *nftables.Conn
	open := func() (err error) {
		c, err = nftables.New(nftables.AsLasting())
		return err
	}
	var err error
	if ns.IsOpen() {
		err = netns.Do(ns, open) // the socket stays in ns
	} else {
		err = open()
	}
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	return c, nil
}

func natTable(name string) *nftables.Table {
	return &nftables.Table{Name: name, Family: nftables.TableFamilyIPv4}
}

func hostPortsChain(t *nftables.Table) *nftables.Chain {
	return &nftables.Chain{Name: natHostPorts, Table: t}
}

// SetMasquerade creates or rewrites the table's base chains (see NATTable)
// in one transaction: on a restart it replaces the masquerade rule (the
// pod CIDR may have changed) and keeps every pod's hostPort rules.
func SetMasquerade(ns netns.Handle, table string, m Masquerade) error {
	if !m.PodCIDR.IsValid() {
		return errors.New("set masquerade: no pod CIDR")
	}
	c, err := nftConn(ns)
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	t := c.AddTable(natTable(table))
	base := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		ch := c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio})
		c.FlushChain(ch)
		return ch
	}
	post := base(natPostrouting, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	exprs := matchPrefix(12, m.PodCIDR, true)
	outside := m.ClusterCIDR
	if !outside.IsValid() {
		outside = m.PodCIDR
	}
	exprs = append(exprs, matchPrefix(16, outside, false)...)
	if m.ServiceCIDR.IsValid() {
		exprs = append(exprs, matchPrefix(16, m.ServiceCIDR, false)...)
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: append(exprs, &expr.Masq{})})
	hp := c.AddChain(hostPortsChain(t))
	jump := []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: hp.Name},
	}
	pre := base(natPrerouting, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: jump})
	out := base(natOutput, nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: jump})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("set masquerade in nftables table %s: %w", table, err)
	}
	return nil
}

// DeleteNAT deletes the table; a missing one is not an error.
func DeleteNAT(ns netns.Handle, table string) error {
	c, err := nftConn(ns)
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	c.DelTable(natTable(table))
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete nftables table %s: %w", table, err)
	}
	return nil
}

// SetHostPorts makes owner's hostPort rules exactly ports, DNATed to podIP,
// in one transaction (no ports: removes them). Rules of other owners are
// kept; the table's hostports chain is created if missing.
func SetHostPorts(ns netns.Handle, table, owner string, podIP netip.Addr, ports []HostPort) error {
	if err := CheckHostPorts(ports); err != nil {
		return err
	}
	if len(ports) > 0 && !podIP.Is4() {
		return fmt.Errorf("set hostPorts of %s: pod IP %v is not IPv4", owner, podIP)
	}
	c, err := nftConn(ns)
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	t := natTable(table)
	old, err := ownerRules(c, t, owner)
	if err != nil {
		return err
	}
	if len(old) == 0 && len(ports) == 0 {
		return nil
	}
	c.AddTable(t)
	ch := c.AddChain(hostPortsChain(t))
	for _, r := range old {
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("delete hostPort rule of %s: %w", owner, err)
		}
	}
	for _, p := range ports {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: dnatExprs(p, podIP), UserData: comment(owner)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("set hostPorts of %s in nftables table %s: %w", owner, table, err)
	}
	return nil
}

// HostPortOwners lists the owners that have hostPort rules in the table.
func HostPortOwners(ns netns.Handle, table string) ([]string, error) {
	c, err := nftConn(ns)
	if err != nil {
		return nil, err
	}
	defer c.CloseLasting()
	rules, err := listHostPorts(c, natTable(table))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rules {
		if o, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out, nil
}

func listHostPorts(c *nftables.Conn, t *nftables.Table) ([]*nftables.Rule, error) {
	rules, err := c.GetRules(t, hostPortsChain(t))
	if err != nil {
		// The table or chain is not there (yet, or any more): no rules.
		if errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "no such file or directory") {
			return nil, nil
		}
		return nil, fmt.Errorf("list hostPort rules of %s: %w", t.Name, err)
	}
	return rules, nil
}

func ownerRules(c *nftables.Conn, t *nftables.Table, owner string) ([]*nftables.Rule, error) {
	rules, err := listHostPorts(c, t)
	if err != nil {
		return nil, err
	}
	var out []*nftables.Rule
	for _, r := range rules {
		if o, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && o == owner {
			out = append(out, r)
		}
	}
	return out, nil
}

func comment(s string) []byte {
	if len(s) > 127 { // nft's NFT_USERDATA_MAXLEN for comments is 128 with the NUL
		s = s[:127]
	}
	return userdata.AppendString(nil, userdata.TypeComment, s)
}

// matchPrefix matches the IPv4 source (offset 12) or destination (16)
// address against p, equal or not.
func matchPrefix(offset uint32, p netip.Prefix, equal bool) []expr.Any {
	op := expr.CmpOpEq
	if !equal {
		op = expr.CmpOpNeq
	}
	mask := ipNet(p).Mask
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: p.Masked().Addr().AsSlice()},
	}
}

func dnatExprs(p HostPort, podIP netip.Addr) []expr.Any {
	var e []expr.Any
	if p.HostIP.IsValid() {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.HostIP.AsSlice()})
	}
	return append(e,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protocols[strings.ToLower(p.Protocol)]}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.HostPort)},
		&expr.Immediate{Register: 1, Data: podIP.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
}

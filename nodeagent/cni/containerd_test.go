package cni_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/containerd/containerdtest"
	"github.com/shoalmesh/shoal/nodeagent/network/networktest"
)

// sandbox is a pod sandbox containerd ran with the test's network.
type sandbox struct {
	id, ns string
	ip     netip.Addr
}

func runSandbox(t *testing.T, rt *containerdtest.Runtime, name string, ports ...*runtimeapi.PortMapping) sandbox {
	t.Helper()
	cfg := rt.PodSandboxConfig(name, false)
	cfg.PortMappings = ports
	id, err := rt.Runtime.Runtime.RunPodSandbox(t.Context(), cfg, "")
	if err != nil {
		t.Fatalf("RunPodSandbox %s: %v", name, err)
	}
	st, err := rt.Runtime.Runtime.PodSandboxStatus(t.Context(), id, false)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(st.GetStatus().GetNetwork().GetIp())
	if err != nil {
		t.Fatalf("sandbox %s: pod IP: %v", name, err)
	}
	ns, err := rt.SandboxNetNS(t.Context(), id)
	if err != nil || ns == "" {
		t.Fatalf("sandbox %s: netns %q: %v", name, ns, err)
	}
	return sandbox{id: id, ns: ns, ip: ip}
}

// TestPodsThroughContainerd runs sandboxes through a real containerd with
// Shoal's plugin, on a node (a namespace) wired to a namespace standing in
// for the internet: each gets an address of the node's pod CIDR on the
// bridge, they reach each other, the node reaches them, they reach the
// internet masqueraded as the node, a hostPort reaches its pod, and
// stopping a sandbox leaves nothing of its network.
func TestPodsThroughContainerd(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Containerd)
	cfg := nodeConfig(t)
	cfg.NodeIP = netip.MustParseAddr("10.246.3.1")
	internet := networktest.Pinned(t)
	networktest.Connect(t, cfg.NetNS, netip.PrefixFrom(cfg.NodeIP, 24), internet, netip.MustParsePrefix("10.246.3.2/24"))
	t.Cleanup(func() { // after containerd's and the network's cleanups
		if tables := nftTables(t, cfg.NetNS); len(tables) > 0 {
			t.Errorf("nftables tables left: %v", tables)
		}
	})
	rt := containerdtest.Start(t, containerdtest.Options{Network: &cfg})
	n := &node{cfg: rt.NetworkConfig, nn: rt.Network, ns: cfg.NetNS}

	a := runSandbox(t, rt, "a", &runtimeapi.PortMapping{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 8080, HostPort: 30082})
	b := runSandbox(t, rt, "b")
	for _, s := range []sandbox{a, b} {
		if !cfg.PodCIDR.Contains(s.ip) || s.ip == rt.Network.Gateway() {
			t.Errorf("sandbox IP %v: want a pod address of %v", s.ip, cfg.PodCIDR)
		}
	}
	if a.ip == b.ip {
		t.Errorf("both sandboxes got %v", a.ip)
	}
	if got := n.vethsOnBridge(t); len(got) != 2 {
		t.Errorf("on the bridge: %v, want two veths", got)
	}

	addr, seen := peers(t, a.ns, netip.AddrPortFrom(a.ip, 8080).String())
	if got := sourceSeen(t, b.ns, addr, seen); got != b.ip {
		t.Errorf("sandbox a saw a connection from %v, want b's %v", got, b.ip)
	}
	if got := sourceSeen(t, cfg.NetNS, addr, seen); got != rt.Network.Gateway() {
		t.Errorf("sandbox a saw the node as %v, want the gateway %v", got, rt.Network.Gateway())
	}
	if got := sourceSeen(t, internet, netip.AddrPortFrom(cfg.NodeIP, 30082).String(), seen); got != netip.MustParseAddr("10.246.3.2") {
		t.Errorf("through the hostPort sandbox a saw %v, want the internet's 10.246.3.2", got)
	}
	web, hits := peers(t, internet, "10.246.3.2:0")
	if got := sourceSeen(t, b.ns, web, hits); got != cfg.NodeIP {
		t.Errorf("the internet saw sandbox b as %v, want the node's %v", got, cfg.NodeIP)
	}

	if err := rt.Runtime.Runtime.StopPodSandbox(t.Context(), a.id); err != nil {
		t.Fatal(err)
	}
	if got := n.vethsOnBridge(t); len(got) != 1 {
		t.Errorf("on the bridge after stopping a: %v, want b's veth only", got)
	}
	if got := n.allocations(t); len(got) != 1 || got[b.ip.String()] == "" {
		t.Errorf("allocations after stopping a: %v, want b's only", got)
	}
	if got := hostPortOwners(t, n); len(got) > 0 {
		t.Errorf("hostPort rules after stopping a: %v", got)
	}
}

// BenchmarkRunPodSandbox times RunPodSandbox and StopPodSandbox with
// Shoal's plugin and with the stock bridge and host-local plugins, one
// sandbox at a time, and reports the medians. Run as root without -race:
//
//	flock /tmp/shoal-root.lock go test -run '^$' -bench RunPodSandbox -benchtime 20x ./nodeagent/cni/
func BenchmarkRunPodSandbox(b *testing.B) {
	testenv.Require(b, testenv.Root, testenv.Containerd)
	for _, plugin := range []string{"shoal", "bridge"} {
		b.Run(plugin, func(b *testing.B) {
			var opts containerdtest.Options
			if plugin == "shoal" {
				cfg := nodeConfig(b)
				opts.Network = &cfg
			} else {
				opts.CNISubnet = podCIDR().String()
			}
			rt := containerdtest.Start(b, opts)
			ctx := b.Context()
			var run, stop []time.Duration
			b.ResetTimer()
			for i := range b.N {
				cfg := rt.PodSandboxConfig(fmt.Sprintf("bench-%d", i), false)
				t0 := time.Now()
				id, err := rt.Runtime.Runtime.RunPodSandbox(ctx, cfg, "")
				if err != nil {
					b.Fatal(err)
				}
				run = append(run, time.Since(t0))
				t0 = time.Now()
				if err := rt.Runtime.Runtime.StopPodSandbox(ctx, id); err != nil {
					b.Fatal(err)
				}
				stop = append(stop, time.Since(t0))
				if err := rt.Runtime.Runtime.RemovePodSandbox(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(median(run), "run-p50-ms")
			b.ReportMetric(median(stop), "stop-p50-ms")
		})
	}
}

func median(d []time.Duration) float64 {
	d = slices.Clone(d)
	slices.Sort(d)
	return float64(d[len(d)/2].Microseconds()) / 1000
}

package cluster

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/shoalmesh/shoal/nodeagent"
)

func TestAdvertiseIP(t *testing.T) {
	nodeIP, nodeErr := nodeagent.DefaultNodeIP()
	for _, tt := range []struct {
		cfg  Config
		want string // "" for an error; "node" for the default node IP
	}{
		{Config{APIAddr: "127.0.0.1:6443"}, "127.0.0.1"},
		{Config{APIAddr: "127.0.0.2:6443"}, "127.0.0.2"},
		{Config{APIAddr: "localhost:6443"}, "127.0.0.1"},
		{Config{APIAddr: "10.1.2.3:6443"}, "10.1.2.3"},
		{Config{APIAddr: "0.0.0.0:6443", NodeIP: "10.0.0.7"}, "10.0.0.7"},
		{Config{APIAddr: ":6443", NodeIP: "10.0.0.7"}, "10.0.0.7"},
		{Config{APIAddr: "0.0.0.0:6443"}, "node"},
		{Config{APIAddr: "0.0.0.0:6443", AdvertiseAddress: "10.0.0.9"}, "10.0.0.9"},
		{Config{APIAddr: "127.0.0.1:6443", AdvertiseAddress: "10.0.0.9"}, "10.0.0.9"},
		{Config{APIAddr: "127.0.0.1:6443", AdvertiseAddress: "0.0.0.0"}, ""},
		{Config{APIAddr: "127.0.0.1:6443", AdvertiseAddress: "host.example"}, ""},
		{Config{APIAddr: "6443"}, ""},
		{Config{APIAddr: "0.0.0.0:6443", NodeIP: "x"}, ""},
	} {
		t.Run(fmt.Sprintf("%s/%s/%s", tt.cfg.APIAddr, tt.cfg.AdvertiseAddress, tt.cfg.NodeIP), func(t *testing.T) {
			got, err := advertiseIP(tt.cfg)
			want := tt.want
			if want == "node" {
				if nodeErr != nil {
					want = ""
				} else {
					want = nodeIP.String()
				}
			}
			if want == "" {
				if err == nil {
					t.Fatalf("advertiseIP = %v, want an error", got)
				}
				return
			}
			if err != nil || got.String() != want {
				t.Fatalf("advertiseIP = %v, %v; want %s", got, err, want)
			}
		})
	}
}

func TestPlanMember(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.5")
	for _, tt := range []struct {
		client, peer            string
		ip                      netip.Addr
		wantClients, wantClient string
		wantPeer, wantPeerAdv   string
	}{
		{"", "", ip, "[127.0.0.1:2379 10.0.0.5:2379]", "10.0.0.5:2379", "10.0.0.5:2380", "10.0.0.5:2380"},
		{"", "", netip.MustParseAddr("127.0.0.1"), "[127.0.0.1:2379]", "127.0.0.1:2379", "127.0.0.1:2380", "127.0.0.1:2380"},
		{"", "", netip.MustParseAddr("127.0.0.2"), "[127.0.0.1:2379 127.0.0.2:2379]", "127.0.0.2:2379", "127.0.0.2:2380", "127.0.0.2:2380"},
		{"0.0.0.0:3000", "0.0.0.0:3001", ip, "[0.0.0.0:3000]", "10.0.0.5:3000", "0.0.0.0:3001", "10.0.0.5:3001"},
		{"127.0.0.3:3000", "127.0.0.3:3001", ip, "[127.0.0.3:3000]", "127.0.0.3:3000", "127.0.0.3:3001", "127.0.0.3:3001"},
	} {
		p, err := planMember(Config{DataDir: "d", EtcdClientAddr: tt.client, EtcdPeerAddr: tt.peer}, tt.ip, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(p.clients); got != tt.wantClients || p.client.String() != tt.wantClient ||
			p.peer.String() != tt.wantPeer || p.peerAdv.String() != tt.wantPeerAdv {
			t.Errorf("%q %q on %s: clients %v advertised %v, peer %v advertised %v", tt.client, tt.peer, tt.ip, got, p.client, p.peer, p.peerAdv)
		}
		if p.cluster != "s1=https://"+tt.wantPeerAdv {
			t.Errorf("initial cluster %q", p.cluster)
		}
	}
	if _, err := planMember(Config{EtcdClientAddr: "nonsense"}, ip, "s1"); err == nil {
		t.Error("a bad --etcd-client-addr was accepted")
	}
}

package nodeagent

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodDNS(t *testing.T) {
	host := filepath.Join(t.TempDir(), "resolv.conf")
	writeTestFile(t, host, "# the node's\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n")
	a := &Agent{cfg: Config{ClusterDNS: netip.MustParseAddr("10.96.0.10"), ClusterDomain: "cluster.local", HostResolvConf: host}}
	five := "2"
	cluster := []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	for _, tc := range []struct {
		name              string
		policy            corev1.DNSPolicy
		hostNet           bool
		cfg               *corev1.PodDNSConfig
		servers, searches []string
		options           []string
	}{
		{"default", "", false, nil, []string{"10.96.0.10"}, cluster, []string{"ndots:5"}},
		{"hostNetwork gets the node's", "", true, nil, []string{"192.0.2.53"}, []string{"corp.example"}, []string{"edns0"}},
		{"hostNetwork asking for the cluster's", corev1.DNSClusterFirstWithHostNet, true, nil, []string{"10.96.0.10"}, cluster, []string{"ndots:5"}},
		{"Default", corev1.DNSDefault, false, nil, []string{"192.0.2.53"}, []string{"corp.example"}, []string{"edns0"}},
		{"None", corev1.DNSNone, false, &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}}, []string{"1.1.1.1"}, nil, nil},
		{"merged", "", false, &corev1.PodDNSConfig{Nameservers: []string{"10.96.0.10", "1.1.1.1"}, Searches: []string{"x.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &five}, {Name: "rotate"}}},
			[]string{"10.96.0.10", "1.1.1.1"}, append(append([]string(nil), cluster...), "x.example"), []string{"ndots:2", "rotate"}},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}, Spec: corev1.PodSpec{DNSPolicy: tc.policy, HostNetwork: tc.hostNet, DNSConfig: tc.cfg}}
		c, err := a.podDNS(pod)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !cmp.Equal(c.Servers, tc.servers) || !cmp.Equal(c.Searches, tc.searches) || !cmp.Equal(c.Options, tc.options) {
			t.Errorf("%s: servers %v searches %v options %v; want %v %v %v", tc.name, c.Servers, c.Searches, c.Options, tc.servers, tc.searches, tc.options)
		}
	}
}

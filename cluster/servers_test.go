package cluster_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/miekg/dns"

	"github.com/shoalmesh/shoal/cluster"
	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/controlplane/encryption"
	"github.com/shoalmesh/shoal/controlplane/servers"
	"github.com/shoalmesh/shoal/controlplane/serviceaccount"
	"github.com/shoalmesh/shoal/internal/failover"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// startServers starts three servers, each on a loopback address of its
// own: the first, then two that join it (the third through the second).
func startServers(t *testing.T) []*clustertest.Shoal {
	t.Helper()
	first := clustertest.Start(t, clustertest.Options{Name: "s1", IP: "127.0.0.2"})
	second := clustertest.Start(t, clustertest.Options{Name: "s2", IP: "127.0.0.3", Join: first.APIURL, Token: first.ServerToken})
	third := clustertest.Start(t, clustertest.Options{Name: "s3", IP: "127.0.0.4", Join: second.APIURL, Token: first.ServerToken})
	return []*clustertest.Shoal{first, second, third}
}

// members lists the etcd members through a server's API, as `shoal server
// list` does.
func members(t *testing.T, s *clustertest.Shoal) []servers.Member {
	t.Helper()
	hc, err := rest.HTTPClientFor(s.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := servers.List(t.Context(), hc, s.APIURL)
	if err != nil {
		t.Fatalf("list servers: %v", err)
	}
	return ms
}

func memberNames(ms []servers.Member) []string {
	var names []string
	for _, m := range ms {
		r := m.Name
		if m.Learner {
			r += "(learner)"
		}
		names = append(names, r)
	}
	return names
}

// TestServersFormACluster: three servers form one etcd cluster; each API
// serves reads and writes of everything the others wrote (Secrets, which
// need the shared encryption key, and service account tokens, which need
// the shared signing key, too); the kubernetes endpoints list all three; a
// join with a wrong token is refused and changes nothing; a removed server
// leaves the member list and stops.
func TestServersFormACluster(t *testing.T) {
	ss := startServers(t)
	ctx := t.Context()
	if got := memberNames(members(t, ss[2])); !slices.Equal(got, []string{"s1", "s2", "s3"}) {
		t.Fatalf("members %v, want s1 s2 s3, all voters", got)
	}
	for _, s := range ss {
		if !strings.HasPrefix(s.Endpoints[0], "https://") {
			t.Errorf("%s reaches etcd at %v, want https", s.ServerName, s.Endpoints)
		}
	}

	// Writes through each server; every server reads them all.
	for i, s := range ss {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("from-%d", i)}, Data: map[string]string{"k": "v"}}
		if _, err := s.Clientset(t).CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create through %s: %v", s.ServerName, err)
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": "s3cr3t"}}
	if _, err := ss[0].Clientset(t).CoreV1().Secrets("default").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		cs := s.Clientset(t)
		for i := range ss {
			if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, fmt.Sprintf("from-%d", i), metav1.GetOptions{}); err != nil {
				t.Errorf("%s reads from-%d: %v", s.ServerName, i, err)
			}
		}
		got, err := cs.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{})
		if err != nil || string(got.Data["password"]) != "s3cr3t" {
			t.Errorf("%s reads the secret: %v %q", s.ServerName, err, got.Data)
		}
	}
	// A token one server issues, another accepts.
	tr, err := ss[0].Clientset(t).CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc := ss[2].RESTConfig(t)
	rc.BearerToken = tr.Status.Token
	who, err := kubernetes.NewForConfigOrDie(rc).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || who.Status.UserInfo.Username != "system:serviceaccount:default:default" {
		t.Errorf("s3 authenticates s1's service account token: %v %+v", err, who)
	}
	waitAPIServers(t, ss[1].Clientset(t), apiAddr(ss[0]), apiAddr(ss[1]), apiAddr(ss[2]))
	// The kube-dns endpoints are the servers' resolvers, each answering
	// over UDP and TCP.
	waitDNSServers(t, ss[1].Clientset(t), ss...)

	// Wrong tokens: refused, clearly, and the members are as they were.
	nodeToken, err := ss[0].Tokens.NodeToken("n1")
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret, err := servers.ParseToken(ss[0].ServerToken)
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret.Secret = strings.Repeat("0", len(wrongSecret.Secret))
	for _, tt := range []struct {
		name, token string
		want        error
	}{
		{"node token", nodeToken, servers.ErrNotServerToken},
		{"wrong secret", wrongSecret.String(), servers.ErrTokenRefused},
	} {
		_, err := clustertest.TryStart(t, clustertest.Options{Name: "s4", IP: "127.0.0.5", Join: ss[0].APIURL, Token: tt.token})
		if !errors.Is(err, tt.want) {
			t.Errorf("join with a %s: err = %v, want %v", tt.name, err, tt.want)
		} else {
			t.Logf("join with a %s: %v", tt.name, err)
		}
	}
	if got := memberNames(members(t, ss[0])); !slices.Equal(got, []string{"s1", "s2", "s3"}) {
		t.Fatalf("members after the refused joins: %v", got)
	}

	// Remove s3: it leaves the members, stops and says why.
	hc, err := rest.HTTPClientFor(ss[0].RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	// etcd refuses to remove a member while the others have been connected
	// for less than 5 s (409: "unhealthy cluster"); then it may.
	testenv.Eventually(t, 20*time.Second, "s3 removed", func() error {
		_, err := servers.Remove(ctx, hc, ss[0].APIURL, "s3")
		return err
	})
	done := make(chan error, 1)
	go func() { done <- ss[2].Wait() }()
	select {
	case err := <-done:
		if !errors.Is(err, cluster.ErrMemberRemoved) {
			t.Errorf("removed s3 stopped with %v, want %v", err, cluster.ErrMemberRemoved)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("removed s3 still runs 30s later")
	}
	if got := memberNames(members(t, ss[0])); !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("members after removing s3: %v", got)
	}
	waitAPIServers(t, ss[0].Clientset(t), apiAddr(ss[0]), apiAddr(ss[1]))
	waitDNSServers(t, ss[0].Clientset(t), ss[0], ss[1])
}

// waitDNSServers waits until the `kube-dns` Endpoints list exactly the
// resolvers of ss, on both ports, and checks that each answers for
// kubernetes.default over UDP and TCP.
func waitDNSServers(t *testing.T, cs kubernetes.Interface, ss ...*clustertest.Shoal) {
	t.Helper()
	var addrs []string
	for _, s := range ss {
		if !s.DNSAdvertise.IsValid() {
			t.Fatalf("%s advertises no resolver (serving on %s)", s.ServerName, s.DNSAddr)
		}
		addrs = append(addrs, s.DNSAdvertise.String())
	}
	waitEndpoints(t, cs, "kube-system", "kube-dns", "dns", addrs...)
	waitEndpoints(t, cs, "kube-system", "kube-dns", "dns-tcp", addrs...)
	for _, addr := range addrs {
		for _, network := range []string{"udp", "tcp"} {
			c := &dns.Client{Net: network, Timeout: 5 * time.Second}
			m := new(dns.Msg).SetQuestion("kubernetes.default.svc.cluster.local.", dns.TypeA)
			r, _, err := c.Exchange(m, addr)
			if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("kube-dns endpoint %s over %s: %v %v", addr, network, err, r)
			}
		}
	}
}

// TestServersLoseOneThenQuorum: a client given one server (as an agent
// with --server) learns the others from the kubernetes endpoints; with
// that server down, it reads and writes through the others. With two of
// three down, the survivor refuses writes with a 503 that says why, and
// answers reads of what its caches hold, with a warning.
func TestServersLoseOneThenQuorum(t *testing.T) {
	ss := startServers(t)
	ctx := t.Context()
	waitAPIServers(t, ss[0].Clientset(t), apiAddr(ss[0]), apiAddr(ss[1]), apiAddr(ss[2]))
	servers, err := failover.New([]string{ss[0].APIURL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rc := ss[0].RESTConfig(t)
	rc.WrapTransport = servers.Wrap
	rc.Timeout = 30 * time.Second // a bound on the test, not on the servers
	var warnings warningRecorder
	rc.WarningHandler = &warnings
	cs := kubernetes.NewForConfigOrDie(rc)
	if err := servers.Learn(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if got, want := servers.Hosts(), []string{apiAddr(ss[0]), apiAddr(ss[1]), apiAddr(ss[2])}; !slices.Equal(got, want) {
		t.Fatalf("learned %v, want %v", got, want)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// One of three down: reads and writes go on, through the others.
	ss[0].Stop()
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one-down"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("write with one server of three down: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "before", metav1.GetOptions{}); err != nil {
		t.Fatalf("read with one server of three down: %v", err)
	}
	t.Logf("with s1 down the client uses %s", servers.Current())

	// Two of three down: no quorum.
	ss[1].Stop()
	// The first write may reach a leader that has not yet noticed it lost
	// its quorum: it waits out etcd's request timeout. Once it has stepped
	// down (an election timeout), writes find no leader.
	for i, want := range []string{"quorum", "no leader"} {
		start := time.Now()
		_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{})
		t.Logf("write %d without quorum: %v after %v", i+1, err, time.Since(start).Round(time.Millisecond))
		var status interface{ Status() metav1.Status }
		if !errors.As(err, &status) || status.Status().Code != http.StatusServiceUnavailable || !strings.Contains(err.Error(), want) {
			t.Fatalf("write %d without quorum: %v; want a 503 that mentions %q", i+1, err, want)
		}
	}
	// Namespaces are cached by every API server; reads of them go on.
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("read of a cached object without quorum: %v", err)
	}
	if !warnings.has("etcd is unreachable") {
		t.Errorf("warnings %v: want one saying the answer comes from a cache", warnings.msgs)
	}
}

// warningRecorder keeps the Warning headers of a client's answers.
type warningRecorder struct{ msgs []string }

func (w *warningRecorder) HandleWarningHeader(code int, agent, text string) {
	w.msgs = append(w.msgs, text)
}

func (w *warningRecorder) has(s string) bool {
	return slices.ContainsFunc(w.msgs, func(m string) bool { return strings.Contains(m, s) })
}

// TestJoinWithAnotherClustersDataDir: a data dir holding another
// cluster's CA is refused before anything is asked of the cluster.
func TestJoinWithAnotherClustersDataDir(t *testing.T) {
	first := clustertest.Start(t, clustertest.Options{Name: "s1", IP: "127.0.0.2"})
	other := clustertest.Start(t, clustertest.Options{Name: "o1", IP: "127.0.0.6"})
	other.Stop()
	_, err := clustertest.TryStart(t, clustertest.Options{Name: "o1", IP: "127.0.0.6", DataDir: other.DataDir, Addrs: &other.Addrs,
		Join: first.APIURL, Token: first.ServerToken})
	if err == nil || !strings.Contains(err.Error(), "another cluster") {
		t.Fatalf("join with another cluster's data dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other.DataDir, "etcd")); err != nil {
		t.Errorf("the other cluster's etcd data: %v", err)
	}
	if got := memberNames(members(t, first)); !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("members: %v", got)
	}
}

// TestJoinWithOtherKeys: a server that joins with a service account key
// or an encryption configuration other than the cluster's (given by flag,
// overriding the bootstrap data) refuses to start, says why, and leaves
// the cluster again; started again without them, it joins.
func TestJoinWithOtherKeys(t *testing.T) {
	first := clustertest.Start(t, clustertest.Options{Name: "s1", IP: "127.0.0.2"})
	other := clustertest.Start(t, clustertest.Options{Name: "o1", IP: "127.0.0.6"}) // for its keys
	for _, tt := range []struct {
		name string
		set  func(*cluster.Config)
		want error
	}{
		{"service account key", func(c *cluster.Config) {
			c.ServiceAccountSigningKeyFile = filepath.Join(other.DataDir, "pki", cluster.ServiceAccountKey)
		}, serviceaccount.ErrKeysNotShared},
		{"encryption configuration", func(c *cluster.Config) {
			c.EncryptionProviderConfig = filepath.Join(other.DataDir, "pki", cluster.EncryptionConfigFile)
		}, encryption.ErrKeyMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := clustertest.Options{Name: "s2", IP: "127.0.0.3", DataDir: t.TempDir(), Join: first.APIURL, Token: first.ServerToken}
			addrs := clustertest.FreeAddrs(t, opts.IP)
			opts.Addrs = &addrs
			bad := opts
			bad.Config = tt.set
			_, err := clustertest.TryStart(t, bad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("join with another %s: %v, want %v", tt.name, err, tt.want)
			}
			t.Logf("join with another %s: %v", tt.name, err)
			if got := memberNames(members(t, first)); !slices.Equal(got, []string{"s1"}) {
				t.Fatalf("members after the failed join: %v", got)
			}
			s := clustertest.Start(t, opts)
			if got := memberNames(members(t, first)); !slices.Equal(got, []string{"s1", "s2"}) {
				t.Fatalf("members after joining again: %v", got)
			}
			// Leave the cluster as it was for the next case (removed while it
			// runs: a two-member etcd without it has no quorum).
			testenv.Eventually(t, 20*time.Second, "s2 removed", func() error {
				hc, err := rest.HTTPClientFor(first.RESTConfig(t))
				if err != nil {
					return err
				}
				_, err = servers.Remove(t.Context(), hc, first.APIURL, "s2")
				return err
			})
			if err := s.Wait(); !errors.Is(err, cluster.ErrMemberRemoved) {
				t.Errorf("removed s2 stopped with %v", err)
			}
		})
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/miekg/dns"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoalmesh/shoal/controlplane/pki"
	"github.com/shoalmesh/shoal/controlplane/servers"
	"github.com/shoalmesh/shoal/dns/resolver/resolvertest"
	"github.com/shoalmesh/shoal/internal/failover"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/xdstest"
)

// haServer is one `shoal up` of a multi-server cluster, on a loopback
// address of its own as on a machine of its own.
type haServer struct {
	name, ip string
	dir      string
	addrs    shoalAddrs
	extra    []string // --join and --token, given again on every start
	p        *shoalProc
}

func newHAServer(t *testing.T, name, ip string) *haServer {
	at := func() string { return net.JoinHostPort(ip, strconv.Itoa(testenv.FreePort(t, ip))) }
	return &haServer{name: name, ip: ip, dir: t.TempDir(), addrs: shoalAddrs{at(), at(), at(), at(), at()}}
}

func (s *haServer) start(t *testing.T, bin string) {
	t.Helper()
	s.launch(t, bin)
	s.p.waitReady(t)
}

// launch starts the process without waiting for it to serve.
func (s *haServer) launch(t *testing.T, bin string) {
	t.Helper()
	s.p = startShoal(t, bin, s.dir, s.addrs, append([]string{"--node-name", s.name}, s.extra...)...)
}

func (s *haServer) apiURL() string { return "https://" + s.addrs.API }

// testServers runs three `shoal up` servers as one cluster and kills each
// in turn with SIGKILL, while a writer writes through whichever answers:
// reads, writes, DNS and xDS go on through the others; the killed one
// restarts, rejoins and has everything, and no acknowledged write is lost.
// Then: a join with a wrong token is refused and changes nothing; `shoal
// server remove` removes a member, which stops; without a quorum a write
// fails at once with a 503 and a cached read still answers.
func testServers(t *testing.T, bin string) {
	ss := []*haServer{newHAServer(t, "s1", "127.0.0.2"), newHAServer(t, "s2", "127.0.0.3"), newHAServer(t, "s3", "127.0.0.4")}
	ss[0].start(t, bin)
	token, err := os.ReadFile(filepath.Join(ss[0].dir, servers.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss[1:] {
		s.extra = []string{"--join", ss[0].apiURL(), "--token", strings.TrimSpace(string(token))}
		s.start(t, bin)
	}
	if got := memberList(t, ss[0]); !slices.Equal(got, []string{"s1", "s2", "s3"}) {
		t.Fatalf("members %v", got)
	}
	if out := ss[0].p.stdout.String(); !strings.Contains(out, "shoal up --join "+ss[0].apiURL()) {
		t.Errorf("the banner has no server join command:\n%s", out)
	}

	// The kubernetes endpoints are the servers' APIs, the kube-dns ones
	// their resolvers.
	waitServerEndpoints(t, ss[0].p.clientset(t), ss, 20*time.Second)

	w := startWriter(t, ss)
	for _, victim := range byLeaderFirst(t, ss) {
		survivors := slices.DeleteFunc(slices.Clone(ss), func(s *haServer) bool { return s == victim })
		victim.p.signal(t, syscall.SIGKILL)
		killed := time.Now()
		victim.p.exit(t, exitTimeout)
		// A dead server leaves the kubernetes and kube-dns endpoints once
		// its lease (3 s) expires; an etcd leader's death adds the election.
		waitServerEndpoints(t, survivors[0].p.clientset(t), survivors, 15*time.Second)
		t.Logf("%s killed: out of the kubernetes and kube-dns endpoints %v later", victim.name, time.Since(killed).Round(time.Millisecond))
		name := "during-" + victim.name
		testenv.Eventually(t, 30*time.Second, "a service created through "+survivors[0].name, func() error {
			return createService(t.Context(), survivors[0].p.clientset(t), name)
		})
		t.Logf("%s %s killed: a write through %s succeeded %v later", time.Now().Format("15:04:05.000"), victim.name, survivors[0].name, time.Since(killed).Round(time.Millisecond))
		for _, s := range survivors {
			checkServes(t, s, name)
		}
		victim.start(t, bin)
		t.Logf("%s restarted and serving %v after it was killed", victim.name, time.Since(killed).Round(time.Millisecond))
		waitServerEndpoints(t, victim.p.clientset(t), ss, 20*time.Second)
		testenv.Eventually(t, 30*time.Second, victim.name+" has all acknowledged writes", func() error {
			return w.check(t.Context(), victim.p.clientset(t), name)
		})
		if got := memberList(t, victim); !slices.Equal(got, []string{"s1", "s2", "s3"}) {
			t.Fatalf("members after %s rejoined: %v", victim.name, got)
		}
	}
	acked, refused := w.stop()
	t.Logf("writer: %d writes acknowledged, %d refused while servers were down", acked, refused)

	// All three killed at once, then started one after another: the first
	// waits for a quorum; with the second the cluster serves again, with
	// everything it had.
	for _, s := range ss {
		s.p.signal(t, syscall.SIGKILL)
		s.p.exit(t, exitTimeout)
	}
	for i, s := range ss {
		s.launch(t, bin)
		time.Sleep(time.Second) // a staggered restart, as machines booting
		if i == 0 && s.p.readyz() == nil {
			t.Errorf("%s serves alone, without a quorum of etcd members", s.name)
		}
	}
	for _, s := range ss {
		s.p.waitReady(t)
	}
	for _, s := range ss {
		if err := w.check(t.Context(), s.p.clientset(t), ""); err != nil {
			t.Errorf("%s after the whole cluster restarted: %v", s.name, err)
		}
	}

	// A fourth server with a wrong token: refused, nothing changes.
	bad := newHAServer(t, "s4", "127.0.0.5")
	wrong, err := servers.ParseToken(string(token))
	if err != nil {
		t.Fatal(err)
	}
	wrong.Secret = strings.Repeat("0", len(wrong.Secret))
	for token, want := range map[string]string{wrong.String(): "the server refused the token", "0123456789abcdef": "not a server token"} {
		p := startShoal(t, bin, bad.dir, bad.addrs, "--node-name", "s4", "--join", ss[0].apiURL(), "--token", token)
		if code := p.exit(t, readyTimeout); code == 0 || !strings.Contains(p.stderr.String(), want) {
			t.Errorf("join with a wrong token: exit %d, stderr %q; want a failure saying %q", code, p.stderr.String(), want)
		}
	}
	if got := memberList(t, ss[0]); !slices.Equal(got, []string{"s1", "s2", "s3"}) {
		t.Fatalf("members after the refused joins: %v", got)
	}

	// shoal server remove: s3 leaves the members and stops, saying why.
	testenv.Eventually(t, 30*time.Second, "shoal server remove s3", func() error {
		out, err := exec.Command(bin, "server", "remove", "s3", "--kubeconfig", ss[0].p.kubeconfig()).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if code := ss[2].p.exit(t, exitTimeout); code == 0 || !strings.Contains(ss[2].p.stderr.String(), "removed from the cluster") {
		t.Errorf("removed s3: exit %d; stderr does not say it was removed:\n%s", code, ss[2].p.stderr.String())
	}
	if got := memberList(t, ss[0]); !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("members after removing s3: %v", got)
	}

	// Two members, one killed: no quorum. Writes fail with a 503 that says
	// so; reads of what the survivor's caches hold still answer.
	ss[1].p.signal(t, syscall.SIGKILL)
	ss[1].p.exit(t, exitTimeout)
	cfg := restConfig(t, ss[0].p.kubeconfig())
	cfg.Timeout = 30 * time.Second // a bound on the test, not on the server
	cs := kubernetes.NewForConfigOrDie(cfg)
	for range 2 {
		start := time.Now()
		err := createService(t.Context(), cs, "no-quorum")
		t.Logf("write without quorum: %v after %v", err, time.Since(start).Round(time.Millisecond))
		var status interface{ Status() metav1.Status }
		if !errors.As(err, &status) || status.Status().Code != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "quorum") {
			t.Fatalf("write without quorum: %v; want a 503 about the lost quorum", err)
		}
	}
	if _, err := cs.CoreV1().Services("default").Get(t.Context(), "during-s1", metav1.GetOptions{}); err != nil {
		t.Errorf("cached read without quorum: %v", err)
	}
}

// checkServes checks that s answers for the service name: through its API,
// its DNS and its xDS.
func checkServes(t *testing.T, s *haServer, name string) {
	t.Helper()
	cs := s.p.clientset(t)
	var ip string
	testenv.Eventually(t, 20*time.Second, s.name+" serves "+name, func() error {
		svc, err := cs.CoreV1().Services("default").Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ip = svc.Spec.ClusterIP
		r, err := resolvertest.Ask("udp", s.addrs.DNS, resolvertest.Query(name+".default.svc.cluster.local", dns.TypeA))
		if err != nil {
			return fmt.Errorf("DNS: %w", err)
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != ip {
			return fmt.Errorf("DNS answer %v, want %s", r.Answer, ip)
		}
		_, err = fetch(t, s.addrs.XDS, resourcev3.ListenerType, name+".default.svc.cluster.local:50051")
		return err
	})
}

// waitServerEndpoints waits up to timeout until the kubernetes Endpoints
// list exactly the APIs of ss and the kube-dns ones exactly their
// resolvers, on both DNS ports.
func waitServerEndpoints(t *testing.T, cs kubernetes.Interface, ss []*haServer, timeout time.Duration) {
	t.Helper()
	var api, dnsAddrs []string
	for _, s := range ss {
		api, dnsAddrs = append(api, s.addrs.API), append(dnsAddrs, s.addrs.DNS)
	}
	slices.Sort(api)
	slices.Sort(dnsAddrs)
	want := map[string][]string{"default/kubernetes/https": api, "kube-system/kube-dns/dns": dnsAddrs, "kube-system/kube-dns/dns-tcp": dnsAddrs}
	testenv.Eventually(t, timeout, fmt.Sprintf("kubernetes endpoints %v, kube-dns %v", api, dnsAddrs), func() error {
		for key, addrs := range want {
			parts := strings.Split(key, "/")
			ep, err := cs.CoreV1().Endpoints(parts[0]).Get(t.Context(), parts[1], metav1.GetOptions{})
			if err != nil {
				return err
			}
			var got []string
			for _, sub := range ep.Subsets {
				for _, p := range sub.Ports {
					if p.Name != parts[2] {
						continue
					}
					for _, a := range sub.Addresses {
						got = append(got, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, addrs) {
				return fmt.Errorf("%s: %v", key, got)
			}
		}
		return nil
	})
}

func createService(ctx context.Context, cs kubernetes.Interface, name string) error {
	if _, err := cs.CoreV1().Services("default").Create(ctx, xdstest.Service("default", name, 50051, ""), metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, xdstest.Slice("default", name, 50051, map[string]bool{"10.1.0.1": true}), metav1.CreateOptions{})
	return err
}

// memberList is `shoal server list` through s's API: the members' names.
func memberList(t *testing.T, s *haServer) []string {
	t.Helper()
	hc, err := rest.HTTPClientFor(restConfig(t, s.p.kubeconfig()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	testenv.Eventually(t, 20*time.Second, "the members, all voting", func() error {
		ms, err := servers.List(t.Context(), hc, s.apiURL())
		if err != nil {
			return err
		}
		names = names[:0]
		for _, m := range ms {
			if m.Learner {
				return fmt.Errorf("%s is still a learner", m.Name)
			}
			names = append(names, m.Name)
		}
		return nil
	})
	return names
}

// byLeaderFirst orders the servers with the etcd leader's first, asking
// etcd itself (with the etcd client certificate of s1's data dir).
func byLeaderFirst(t *testing.T, ss []*haServer) []*haServer {
	t.Helper()
	tc, err := pki.ClientTLS(filepath.Join(ss[0].dir, "pki", "etcd", "ca.crt"),
		filepath.Join(ss[0].dir, "pki", "etcd", pki.EtcdClientCertFile), filepath.Join(ss[0].dir, "pki", "etcd", pki.EtcdClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + ss[0].addrs.EtcdClient}, TLS: tc, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := c.Status(ctx, "https://"+ss[0].addrs.EtcdClient)
	if err != nil {
		t.Fatal(err)
	}
	ml, err := c.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := ""
	for _, m := range ml.Members {
		if m.ID == st.Leader {
			leader = m.Name
		}
	}
	t.Logf("the etcd leader is %s", leader)
	out := slices.Clone(ss)
	slices.SortStableFunc(out, func(a, b *haServer) int {
		switch {
		case a.name == leader:
			return -1
		case b.name == leader:
			return 1
		}
		return 0
	})
	return out
}

func restConfig(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// writer creates ConfigMaps through an agent-style client over every
// server (failover), one at a time, and remembers which were acknowledged.
type writer struct {
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	acked   []string
	refused int
}

func startWriter(t *testing.T, ss []*haServer) *writer {
	t.Helper()
	var urls []string
	for _, s := range ss {
		urls = append(urls, s.apiURL())
	}
	fo, err := failover.New(urls, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg := restConfig(t, ss[0].p.kubeconfig())
	cfg.WrapTransport = fo.Wrap
	cfg.Timeout = 15 * time.Second
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("w-%05d", i)
			start := time.Now()
			_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			if d := time.Since(start); d > time.Second || err != nil {
				t.Logf("%s write %s through %s: %v after %v", time.Now().Format("15:04:05.000"), name, fo.Current(), err, d.Round(time.Millisecond))
			}
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, name)
			} else if ctx.Err() == nil {
				w.refused++
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *writer) stop() (acked, refused int) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked), w.refused
}

// check reads, through cs, every write acknowledged so far, and the
// service also if not "".
func (w *writer) check(ctx context.Context, cs kubernetes.Interface, service string) error {
	w.mu.Lock()
	acked := slices.Clone(w.acked)
	w.mu.Unlock()
	l, err := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, cm := range l.Items {
		have[cm.Name] = true
	}
	var lost []string
	for _, n := range acked {
		if !have[n] {
			lost = append(lost, n)
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("%d of %d acknowledged writes missing: %v", len(lost), len(acked), lost)
	}
	if service != "" {
		if _, err := cs.CoreV1().Services("default").Get(ctx, service, metav1.GetOptions{}); err != nil {
			return err
		}
	}
	return nil
}

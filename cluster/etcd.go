package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/client/pkg/v3/types"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/shoalmesh/shoal/controlplane/pki"
)

// The embedded etcd's ports when --etcd-client-addr and --etcd-peer-addr
// are not given.
const (
	DefaultEtcdClientPort = 2379
	DefaultEtcdPeerPort   = 2380
)

// ErrMemberRemoved means this server's etcd member was removed from the
// cluster (`shoal server remove`): it cannot serve again on this data dir.
var ErrMemberRemoved = errors.New("this server's etcd member was removed from the cluster")

// memberPlan is how this server's embedded etcd member listens and is
// reached: client and peer traffic over mutual TLS with certificates from
// the etcd CA (pki/etcd), on the advertised address.
type memberPlan struct {
	name  string
	dir   string
	files pki.EtcdFiles
	// clients are the client listeners; client is the advertised one.
	clients []netip.AddrPort
	client  netip.AddrPort
	// peer is the peer listener; peerAdv the advertised one.
	peer, peerAdv netip.AddrPort
	// cluster is --initial-cluster; existing says the member joins one.
	cluster  string
	existing bool
	// removed is set once etcd says the member was removed; closing once
	// this process closes it.
	removed, closing *atomic.Bool
}

// planMember decides the listeners: by default the client port on
// loopback and on the advertised address, the peer port on the advertised
// address; a listen address of 0.0.0.0 is advertised as ip.
func planMember(cfg Config, ip netip.Addr, name string) (memberPlan, error) {
	p := memberPlan{name: name, dir: filepath.Join(cfg.DataDir, "etcd"), removed: &atomic.Bool{}, closing: &atomic.Bool{}}
	if cfg.EtcdClientAddr == "" {
		p.client = netip.AddrPortFrom(ip, DefaultEtcdClientPort)
		p.clients = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), DefaultEtcdClientPort)}
		if p.client != p.clients[0] {
			p.clients = append(p.clients, p.client)
		}
	} else {
		l, adv, err := listenAndAdvertise(cfg.EtcdClientAddr, ip)
		if err != nil {
			return p, fmt.Errorf("--etcd-client-addr %q: %w", cfg.EtcdClientAddr, err)
		}
		p.clients, p.client = []netip.AddrPort{l}, adv
	}
	if cfg.EtcdPeerAddr == "" {
		p.peer = netip.AddrPortFrom(ip, DefaultEtcdPeerPort)
		p.peerAdv = p.peer
	} else {
		l, adv, err := listenAndAdvertise(cfg.EtcdPeerAddr, ip)
		if err != nil {
			return p, fmt.Errorf("--etcd-peer-addr %q: %w", cfg.EtcdPeerAddr, err)
		}
		p.peer, p.peerAdv = l, adv
	}
	p.cluster = p.name + "=" + p.peerURL()
	return p, nil
}

func listenAndAdvertise(addr string, ip netip.Addr) (listen, adv netip.AddrPort, err error) {
	adv, err = advertised(addr, ip)
	if err != nil {
		return
	}
	host, _, _ := net.SplitHostPort(addr)
	h, err := hostIP(host)
	return netip.AddrPortFrom(h, adv.Port()), adv, err
}

func (p memberPlan) peerURL() string { return "https://" + p.peerAdv.String() }

// hosts are the names the member's certificates must carry.
func (p memberPlan) hosts() []string {
	var hs []string
	for _, a := range append(slices.Clone(p.clients), p.client, p.peer, p.peerAdv) {
		hs = append(hs, a.Addr().String())
	}
	return hs
}

// hasData reports whether the member has started on this data dir before.
func (p memberPlan) hasData() bool {
	_, err := os.Stat(filepath.Join(p.dir, "member", "wal"))
	return err == nil
}

// startMember starts the embedded etcd member of p and returns once it
// serves as a voting member (a joining one is promoted by the cluster once
// it has caught up).
func startMember(ctx context.Context, p memberPlan, log *slog.Logger) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = p.name
	cfg.Dir = p.dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = nil, []url.URL{httpsURL(p.client)}
	for _, a := range p.clients {
		cfg.ListenClientUrls = append(cfg.ListenClientUrls, httpsURL(a))
	}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{httpsURL(p.peer)}, []url.URL{httpsURL(p.peerAdv)}
	cfg.InitialCluster = p.cluster
	if p.existing {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	tlsInfo := func(cert, key string) transport.TLSInfo {
		return transport.TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: p.files.CA, ClientCertAuth: true}
	}
	cfg.ClientTLSInfo = tlsInfo(p.files.ServerCert, p.files.ServerKey)
	cfg.PeerTLSInfo = tlsInfo(p.files.PeerCert, p.files.PeerKey)
	// Short ticks: one member elects itself within a second of starting,
	// and the others notice a dead leader within one.
	cfg.TickMs, cfg.ElectionMs = 50, 500
	// Compact history as the Kubernetes API server does (every 5 minutes),
	// so a long-running cluster does not grow without bound.
	cfg.AutoCompactionMode, cfg.AutoCompactionRetention = "periodic", "5m"
	// Progress notifications let watchers (and watch bookmarks) advance
	// while nothing changes.
	cfg.WatchProgressNotifyInterval = 10 * time.Second
	cfg.LogLevel = "warn"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdLogger(log, p.removed, p.closing))
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	fail := func(err error) (*embed.Etcd, error) {
		p.close(e)
		return nil, err
	}
	// A member that restarts waits for a quorum of its cluster, whose
	// other members may be restarting too: it says so now and then, and
	// gives up only when told to stop.
	waiting := time.NewTicker(30 * time.Second)
	defer waiting.Stop()
	for ready := false; !ready; {
		select {
		case <-e.Server.ReadyNotify():
			ready = true
		case err := <-e.Err():
			if p.removed.Load() {
				err = memberStopped(e, p)
			}
			return fail(fmt.Errorf("embedded etcd: %w", err))
		case <-e.Server.StopNotify():
			return fail(memberStopped(e, p))
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-waiting.C:
			log.Warn("etcd member not ready yet: waiting for a quorum of the etcd members to be up and reachable", "name", p.name)
		}
	}
	if e.Server.IsLearner() {
		log.Info("etcd member is a learner: waiting to be promoted once it has caught up", "member", e.Server.MemberID())
	}
	for e.Server.IsLearner() {
		select {
		case <-e.Server.StopNotify():
			return fail(memberStopped(e, p))
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-waiting.C:
			log.Warn("etcd member still a learner: waiting for a server of the cluster to promote it", "name", p.name)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return e, nil
}

// close stops the member, its listeners' errors logged at debug level.
func (p memberPlan) close(e *embed.Etcd) {
	p.closing.Store(true)
	e.Close()
}

// memberStopped says why the member stopped on its own.
func memberStopped(e *embed.Etcd, p memberPlan) error {
	c, ok := e.Server.Cluster().(interface{ IsIDRemoved(types.ID) bool })
	if p.removed.Load() || ok && c.IsIDRemoved(e.Server.MemberID()) {
		return fmt.Errorf("%w: to join again, delete %s and start with --join", ErrMemberRemoved, p.dir)
	}
	return errors.New("the embedded etcd member stopped (see its errors above)")
}

func httpsURL(a netip.AddrPort) url.URL { return url.URL{Scheme: "https", Host: a.String()} }

// localClientURL is the client URL this process reaches its own member at:
// a loopback listener if there is one.
func localClientURL(e *embed.Etcd) string {
	var addrs []netip.AddrPort
	for _, l := range e.Clients {
		addrs = append(addrs, l.Addr().(*net.TCPAddr).AddrPort())
	}
	i := slices.IndexFunc(addrs, func(a netip.AddrPort) bool { return a.Addr().Unmap().IsLoopback() })
	if i < 0 {
		i = 0
	}
	a := addrs[i]
	if a.Addr().IsUnspecified() {
		a = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), a.Port())
	}
	return "https://" + a.String()
}

// updatePeerURL makes the member's peer URL the one it advertises now (a
// data dir made before etcd spoke TLS, or a changed --advertise-address).
func updatePeerURL(ctx context.Context, client *clientv3.Client, e *embed.Etcd, p memberPlan) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := client.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("list etcd members: %w", err)
	}
	id := uint64(e.Server.MemberID())
	for _, m := range list.Members {
		if m.ID == id && !slices.Equal(m.PeerURLs, []string{p.peerURL()}) {
			if _, err := client.MemberUpdate(ctx, id, []string{p.peerURL()}); err != nil {
				return fmt.Errorf("update this member's peer URL from %v to %s: %w", m.PeerURLs, p.peerURL(), err)
			}
		}
	}
	return nil
}

// etcdConn is how the process reaches etcd.
type etcdConn struct {
	client    *clientv3.Client
	endpoints []string
	// member is the embedded member, nil with an external etcd.
	member *embed.Etcd
	plan   memberPlan
	// serving is set once the whole server has started.
	serving *atomic.Bool
}

// externalTLS is the TLS configuration of a client of an external etcd,
// from --etcd-cafile, --etcd-certfile and --etcd-keyfile (nil for http://).
func externalTLS(cfg Config) (*tls.Config, error) {
	secure := slices.ContainsFunc(cfg.EtcdServers, func(s string) bool { return strings.HasPrefix(s, "https://") })
	anyFile := cfg.EtcdCAFile != "" || cfg.EtcdCertFile != "" || cfg.EtcdKeyFile != ""
	switch {
	case !secure && anyFile:
		return nil, fmt.Errorf("--etcd-cafile, --etcd-certfile and --etcd-keyfile need https:// --etcd-servers, not %v", cfg.EtcdServers)
	case !secure:
		return nil, nil
	case (cfg.EtcdCertFile == "") != (cfg.EtcdKeyFile == ""):
		return nil, errors.New("--etcd-certfile and --etcd-keyfile go together")
	case cfg.EtcdCertFile != "" && cfg.EtcdCAFile == "":
		return nil, errors.New("--etcd-certfile needs --etcd-cafile, the CA that signed etcd's certificates")
	case cfg.EtcdCertFile != "":
		return pki.ClientTLS(cfg.EtcdCAFile, cfg.EtcdCertFile, cfg.EtcdKeyFile)
	case cfg.EtcdCAFile != "":
		return pki.CATLS(cfg.EtcdCAFile)
	default:
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil
	}
}

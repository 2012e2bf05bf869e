// Package clustertest starts a real Shoal control plane in-process for tests:
// the API server over HTTPS with its token and CA, on an embedded etcd (or
// one the test controls, to restart it), all on free loopback ports.
package clustertest

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoalmesh/shoal/cluster"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// Options change what Start runs.
type Options struct {
	// EtcdServers uses an external etcd (see storetest.StartEtcd) instead of
	// an embedded one.
	EtcdServers []string
	// DataDir is kept across Start calls when set (default: a temp dir).
	DataDir string
	Log     *slog.Logger
	// Name is the server's name (its etcd member's); IP the address every
	// listener uses (default 127.0.0.1): servers of one test each take a
	// loopback address of their own (127.0.0.2, ...), as machines would.
	Name, IP string
	// Join and Token make the server join another one's cluster
	// (its APIURL and ServerToken).
	Join, Token string
	// Addrs are the listeners of an earlier Start on the same DataDir (a
	// restart); nil picks free ports.
	Addrs *Addrs
	// Config, if set, changes the configuration before the start (flags
	// the options above do not cover).
	Config func(*cluster.Config)
}

// Addrs are the listen addresses of one server.
type Addrs struct{ API, EtcdClient, EtcdPeer, DNS, XDS string }

// FreeAddrs picks free ports on ip for every listener.
func FreeAddrs(t testing.TB, ip string) Addrs {
	t.Helper()
	at := func() string { return net.JoinHostPort(ip, strconv.Itoa(testenv.FreePort(t, ip))) }
	return Addrs{API: at(), EtcdClient: at(), EtcdPeer: at(), DNS: at(), XDS: at()}
}

// Shoal is a running instance.
type Shoal struct {
	*cluster.Instance
	DataDir string
	Addrs   Addrs
	stop    context.CancelFunc
}

// Start runs Shoal (`shoal up`) until the test ends.
func Start(t testing.TB, opts Options) *Shoal {
	t.Helper()
	s, err := TryStart(t, opts)
	if err != nil {
		t.Fatalf("shoal up: %v", err)
	}
	return s
}

// TryStart is Start for a start that may fail (a join with a wrong token).
func TryStart(t testing.TB, opts Options) (*Shoal, error) {
	t.Helper()
	return tryStart(t, opts, cluster.Up)
}

// StartControlPlane runs `shoal controlplane` on opts.EtcdServers until the
// test ends. Replicas share the CA and tokens through the contents of their
// data dirs: start one, then give the others a copy (CopyCredentials).
func StartControlPlane(t testing.TB, opts Options) *Shoal {
	t.Helper()
	if len(opts.EtcdServers) == 0 {
		t.Fatal("clustertest.StartControlPlane: Options.EtcdServers is required")
	}
	s, err := TryStartControlPlane(t, opts)
	if err != nil {
		t.Fatalf("shoal controlplane: %v", err)
	}
	return s
}

// TryStartControlPlane is StartControlPlane for a start that may fail.
func TryStartControlPlane(t testing.TB, opts Options) (*Shoal, error) {
	t.Helper()
	return tryStart(t, opts, cluster.ControlPlane)
}

// CopyCredentials copies the CA (pki/) and tokens of the data dir from into
// to, so that a control-plane replica started on to serves with the same CA
// and tokens as the one on from. Each replica still writes its own
// kubeconfig, naming its own API server.
func CopyCredentials(t testing.TB, from, to string) {
	t.Helper()
	if err := os.CopyFS(filepath.Join(to, "pki"), os.DirFS(filepath.Join(from, "pki"))); err != nil {
		t.Fatalf("copy the CA: %v", err)
	}
	tokens, err := os.ReadFile(filepath.Join(from, "tokens.csv"))
	if err == nil {
		err = os.WriteFile(filepath.Join(to, "tokens.csv"), tokens, 0o600)
	}
	if err != nil {
		t.Fatalf("copy the tokens: %v", err)
	}
}

func tryStart(t testing.TB, opts Options, run func(context.Context, cluster.Config) (*cluster.Instance, error)) (*Shoal, error) {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Addrs == nil {
		a := FreeAddrs(t, opts.IP)
		opts.Addrs = &a
	}
	if opts.Log == nil && os.Getenv("SHOAL_TEST_LOG") != "" {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("server", opts.Name)
	}
	a := *opts.Addrs
	cfg := cluster.Config{
		DataDir:        opts.DataDir,
		APIAddr:        a.API,
		EtcdServers:    opts.EtcdServers,
		EtcdClientAddr: a.EtcdClient,
		EtcdPeerAddr:   a.EtcdPeer,
		DNSAddr:        a.DNS, // shoal up only; s.DNSAddr
		XDSAddr:        a.XDS,
		NodeName:       opts.Name,
		Join:           opts.Join,
		Token:          opts.Token,
		Log:            opts.Log,
	}
	if opts.Config != nil {
		opts.Config(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in, err := run(ctx, cfg)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Shoal{Instance: in, DataDir: opts.DataDir, Addrs: a, stop: cancel}
	t.Cleanup(s.Stop)
	return s, nil
}

// Stop shuts the instance down and waits for it.
func (s *Shoal) Stop() {
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		panic("shoal did not stop within 30s")
	}
}

// RESTConfig is the admin client configuration (from the kubeconfig Shoal wrote).
func (s *Shoal) RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	return cfg
}

// Clientset is a client-go clientset with the admin token.
func (s *Shoal) Clientset(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(s.RESTConfig(t))
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs
}

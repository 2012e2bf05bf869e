// Command shoal runs Shoal: `shoal up` starts a whole cluster on one machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/shoalmesh/shoal/cluster"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/dns/resolver"
	"github.com/shoalmesh/shoal/nodeagent/cni"
)

const usage = `Shoal: service discovery and least-loaded traffic, Kubernetes-style.

Usage:
  shoal up [flags]             run everything on this machine (embedded etcd, API server, controllers, ...)
  shoal up --join URL --token T   run another server of that cluster (its etcd joins the first's)
  shoal server list|remove     list the servers, or remove one (through the API, as an admin)
  shoal controlplane [flags]   run the API server and controllers against an etcd cluster (--etcd-servers)
  shoal dns --conf Corefile    run the DNS resolver alone (its cluster block names the etcd endpoints)
  shoal agent --server URL --token T   run a node agent (root) that joins the cluster
  shoal proxy --xds ADDR       run the node proxy alone (root: it puts service VIPs on lo)
  shoal version                print the version

Run 'shoal <command> -h' for its flags.
`

func main() {
	// containerd runs this binary as the pod network's CNI plugin.
	cni.Main()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = run("up", os.Args[2:], cluster.Up)
	case "controlplane":
		err = run("controlplane", os.Args[2:], cluster.ControlPlane)
	case "dns":
		err = runDNS(os.Args[2:])
	case "server":
		err = runServer(os.Args[2:])
	case "agent":
		err = runAgent(os.Args[2:])
	case "proxy":
		err = runProxy(os.Args[2:])
	case "version":
		fmt.Println("shoal (Kubernetes API v1.33)")
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "shoal: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "shoal: %v\n", err)
		os.Exit(1)
	}
}

// run parses the flags of command and runs start until SIGINT or SIGTERM.
func run(command string, args []string, start func(context.Context, cluster.Config) (*cluster.Instance, error)) error {
	fs := flag.NewFlagSet("shoal "+command, flag.ExitOnError)
	var cfg cluster.Config
	fs.StringVar(&cfg.DataDir, "data-dir", cluster.DefaultDataDir, "where etcd's data, certificates, tokens and the kubeconfig are kept")
	fs.StringVar(&cfg.APIAddr, "api-addr", cluster.DefaultAPIAddr, "API server listen address (HTTPS)")
	fs.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "the IP other machines reach this server at (default: the --api-addr host, or the node IP when it is 0.0.0.0)")
	etcdServers := fs.String("etcd-servers", "", "comma-separated client URLs of an external etcd cluster (shoal up: default is an embedded etcd)")
	fs.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "the CA that signed the external etcd's certificates (https --etcd-servers)")
	fs.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "the client certificate to present to the external etcd")
	fs.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "the key of --etcd-certfile")
	if command == "up" {
		fs.StringVar(&cfg.Join, "join", "", "the API URL of a server of the cluster to join as another server (https://<first>:6443)")
		fs.StringVar(&cfg.Token, "token", "", "the cluster's server token, with --join (the first server keeps it in <data-dir>/server-token)")
		fs.StringVar(&cfg.EtcdClientAddr, "etcd-client-addr", "", "embedded etcd client listen address (default: 127.0.0.1:2379 and <advertise-address>:2379)")
		fs.StringVar(&cfg.EtcdPeerAddr, "etcd-peer-addr", "", "embedded etcd peer listen address (default: <advertise-address>:2380)")
		fs.StringVar(&cfg.DNSAddr, "dns-addr", cluster.DefaultDNSAddr, "DNS listen address (UDP and TCP) of the built-in Corefile")
		fs.StringVar(&cfg.DNSConf, "dns-conf", "", "Corefile to serve DNS with instead of the built-in one (its cluster block without endpoint uses this process's registry)")
		fs.StringVar(&cfg.Agent, "agent", cluster.AgentAuto, "run a node agent so this host runs pods: auto (when root with CAP_NET_ADMIN, cgroups and containerd), on, off")
		fs.StringVar(&cfg.RuntimeEndpoint, "container-runtime-endpoint", "", "the node agent uses this CRI runtime (unix:///run/containerd/containerd.sock) instead of starting its own containerd")
		fs.StringVar(&cfg.RegistriesFile, "registries", "", "registries.yaml (k3s's format) of registry mirrors and TLS settings for the agent's containerd")
		fs.StringVar(&cfg.NodeName, "node-name", "", "this host's node and server name (default: the host name)")
		fs.StringVar(&cfg.NodeIP, "node-ip", "", "this host's node IP (default: the address of the default route's interface)")
		fs.StringVar(&cfg.ProxyAdminAddr, "proxy-admin-addr", cluster.DefaultProxyAdminAddr, "the node proxy's admin endpoint (config dump, endpoints, metrics); empty: none")
	}
	fs.StringVar(&cfg.XDSAddr, "xds-addr", cluster.DefaultXDSAddr, "xDS (ADS and LRS) gRPC listen address")
	fs.DurationVar(&cfg.ServerLeaseTTL, "server-lease-ttl", registry.DefaultServerLeaseTTL, "how long a dead server stays in the kubernetes and kube-dns endpoints (whole seconds; shorter drops a server whose etcd is slow sooner)")
	fs.StringVar(&cfg.ServiceCIDR, "service-cidr", cluster.DefaultServiceCIDR, "range ClusterIPs are allocated from")
	addKeyFlags(fs, &cfg)
	addFailureFlags(fs, &cfg.FailureDetection, command == "up")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)

	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	cfg.Log = log
	cfg.Out = os.Stdout
	if *etcdServers != "" {
		cfg.EtcdServers = strings.Split(*etcdServers, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	in, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	return in.Wait()
}

// runDNS runs `shoal dns` until SIGINT or SIGTERM.
func runDNS(args []string) error {
	fs := flag.NewFlagSet("shoal dns", flag.ExitOnError)
	conf := fs.String("conf", "", "the Corefile to serve (required); its cluster block needs endpoint URLs")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Parse(args)
	if *conf == "" {
		return errors.New("--conf is required")
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return resolver.Run(ctx, *conf, log.With("component", "dns"))
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// Command registry measures what Shoal's API server adds on top of the etcd
// it stores in: raw etcd puts against Service creates through the API, and
// how fast a Service update reaches a client-go informer. Everything runs in
// one process on one embedded etcd; it prints a Markdown table.
//
// The writes are measured in -rounds interleaved rounds (etcd and the API
// alternating, the order reversed every other round); each figure is the
// median over the rounds with its range, and the process's CPU time per
// write (etcd, the API server, the controllers and the clients all count,
// as they share the process). After each round the Services it created are
// deleted through the API and the etcd keys removed, so every round starts
// from the same cluster. Every create must come back with a ClusterIP, and
// at the end every Service a round created must have been in etcd.
//
//	go run ./test/bench/registry [-n 2000] [-c 16] [-rounds 5]
package main

import (
	"github.com/shoalmesh/shoal/test/bench/benchenv"

	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/cluster"
)

func main() {
	n := flag.Int("n", 2000, "operations per measurement (and Service updates timed for the watch latency)")
	rounds := flag.Int("rounds", 5, "interleaved rounds of every write measurement")
	c := flag.Int("c", 16, "concurrent etcd writers and API clients")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the process (etcd, API server, controllers and clients) during the first round's concurrent creates without selector to this file")
	flag.Parse()
	if *n < 1 || *c < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "bench: -n, -c and -rounds must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *n, *c, *rounds, *cpuProfile); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run sets up etcd and Shoal in a temp dir, measures, prints the report and
// removes everything again, also when interrupted.
func run(ctx context.Context, w io.Writer, n, c, rounds int, cpuProfile string) error {
	began := time.Now()
	env, err := benchenv.Start("", "shoal-bench-")
	if err != nil {
		return err
	}
	defer env.Close()
	dir, etcdURL, cli := env.Dir, env.URL, env.Client

	upCtx, cancel := context.WithCancel(ctx)
	in, err := cluster.Up(upCtx, cluster.Config{
		DataDir:     filepath.Join(dir, "shoal"),
		APIAddr:     "127.0.0.1:0",
		EtcdServers: []string{etcdURL},
		// Room for every round's Services without crowding the allocator.
		ServiceCIDR: "10.96.0.0/12",
		// Free ports: another cluster on this machine may hold the defaults.
		DNSAddr: "127.0.0.1:0",
		XDSAddr: "127.0.0.1:0",
		Log:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		cancel()
		return fmt.Errorf("shoal up: %w", err)
	}
	defer func() {
		cancel()
		select {
		case <-waitChan(in):
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "bench: shoal did not stop within 30s")
		}
	}()

	r := report{n: n, c: c, rounds: rounds, cpuProfile: cpuProfile, loadBefore: benchenv.LoadAverage()}
	api, err := newAPIClients(in.Kubeconfig, c)
	if err != nil {
		return err
	}
	if err := api.createNamespace(ctx, benchNS); err != nil {
		return err
	}
	if err := r.measureWrites(ctx, cli, api); err != nil {
		return err
	}
	if r.serviceBytes, err = storedSize(ctx, cli, "/registry/services/specs/"+benchNS+"/kept"); err != nil {
		return err
	}
	if r.watch, err = api.watchLatency(ctx, n); err != nil {
		return err
	}
	r.elapsed = time.Since(began)
	r.print(w)
	return nil
}

func waitChan(in *cluster.Instance) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- in.Wait() }()
	return ch
}

func storedSize(ctx context.Context, cli *clientv3.Client, key string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, fmt.Errorf("%s is not in etcd", key)
	}
	return len(resp.Kvs[0].Value), nil
}

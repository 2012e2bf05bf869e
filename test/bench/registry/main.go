// Command registry measures what Shoal's API server adds on top of the etcd
// it stores in: raw etcd puts against Service creates through the API, and
// how fast a Service update reaches a client-go informer. Everything runs in
// one process on one embedded etcd; it prints a Markdown table.
//
//	go run ./test/bench/registry [-n 2000] [-c 16]
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
	"runtime/pprof"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shoalmesh/shoal/cluster"
)

func main() {
	n := flag.Int("n", 3000, "operations per measurement (and Service updates timed for the watch latency)")
	c := flag.Int("c", 16, "concurrent etcd writers and API clients")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (etcd, API server and clients) to this file")
	flag.Parse()
	if *n < 1 || *c < 1 {
		fmt.Fprintln(os.Stderr, "bench: -n and -c must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cpu profile:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, os.Stdout, *n, *c); err != nil {
		pprof.StopCPUProfile()
		stop()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run sets up etcd and Shoal in a temp dir, measures, prints the report and
// removes everything again, also when interrupted.
func run(ctx context.Context, w io.Writer, n, c int) error {
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
		Log:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
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

	r := report{n: n, c: c, loadBefore: benchenv.LoadAverage()}
	if r.etcdSeq, err = etcdPuts(ctx, cli, "/bench/etcd/seq/", n, 1); err != nil {
		return err
	}
	if r.etcdPar, err = etcdPuts(ctx, cli, "/bench/etcd/par/", n, c); err != nil {
		return err
	}
	api, err := newAPIClients(in.Kubeconfig, c)
	if err != nil {
		return err
	}
	if err := api.createNamespace(ctx, benchNS); err != nil {
		return err
	}
	if r.apiBareSeq, err = api.createServices(ctx, "bare-seq", n, 1, false); err != nil {
		return err
	}
	if r.apiBarePar, err = api.createServices(ctx, "bare-par", n, c, false); err != nil {
		return err
	}
	if r.apiSeq, err = api.createServices(ctx, "seq", n, 1, true); err != nil {
		return err
	}
	if r.apiPar, err = api.createServices(ctx, "par", n, c, true); err != nil {
		return err
	}
	if r.serviceBytes, err = storedSize(ctx, cli, "/registry/services/specs/"+benchNS+"/seq-000000"); err != nil {
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

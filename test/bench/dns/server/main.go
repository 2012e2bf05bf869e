// Command server runs one of the two DNS servers that `make bench-dns`
// compares, as its own process so that its resident memory can be measured:
//
//	server -mode shoal -corefile FILE     Shoal's resolver (dns/resolver)
//	server -mode coredns -corefile FILE   CoreDNS's server with its kubernetes plugin
//
// With -debug ADDR it also serves net/http/pprof and /heap (the Go heap
// live after the last GC, and the goroutines) on ADDR.
//
// Both are the same CoreDNS core from the same module, with the same
// curated directives except cluster ↔ kubernetes. It serves until SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // the -debug listener
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"syscall"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/kubernetes"

	"github.com/shoalmesh/shoal/dns/resolver"
)

func main() {
	mode := flag.String("mode", "shoal", "shoal or coredns")
	corefile := flag.String("corefile", "", "the Corefile to serve")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	debug := flag.String("debug", "", "serve net/http/pprof and /heap on this address")
	flag.Parse()
	if *debug != "" {
		http.HandleFunc("/heap", heap)
		go func() {
			if err := http.ListenAndServe(*debug, nil); err != nil {
				fmt.Fprintln(os.Stderr, "server: debug listener:", err)
			}
		}()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch *mode {
	case "shoal":
		err = resolver.Run(ctx, *corefile, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	case "coredns":
		err = runCoreDNS(ctx, *corefile)
	default:
		err = fmt.Errorf("-mode %q: want shoal or coredns", *mode)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// runCoreDNS starts CoreDNS the way coremain does, on resolver's directive
// list with kubernetes where Shoal has cluster.
func runCoreDNS(ctx context.Context, path string) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dirs := resolver.Directives()
	dirs[slices.Index(dirs, "cluster")] = "kubernetes"
	if err := dnsserver.SetDirectives(dirs); err != nil {
		return err
	}
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: body, Filepath: path, ServerTypeName: "dns"})
	if err != nil {
		return err
	}
	<-ctx.Done()
	inst.ShutdownCallbacks()
	inst.Stop()
	inst.Wait()
	return nil
}

// heap writes "<live heap bytes> <goroutines>": the heap the last GC found
// live, without forcing one.
func heap(w http.ResponseWriter, _ *http.Request) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	fmt.Fprintf(w, "%d %d\n", s[0].Value.Uint64(), runtime.NumGoroutine())
}

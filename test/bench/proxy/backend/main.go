// Command backend is the HTTP/1.1 servers that `make bench-proxy` balances
// over, as one process of their own so that their CPU is not counted
// against the proxies:
//
//	backend -listen 127.0.0.11:8080,127.0.0.12:8080,127.0.0.13:8080 -delay 2ms,2ms,20ms
//
// Each address answers GET / with a small body after its delay, and
// GET /stats with how many requests for / it has answered (a decimal
// number), so the benchmark can read each server's share of a run. It
// serves until SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.11:8080,127.0.0.12:8080,127.0.0.13:8080", "comma-separated addresses, one server each")
	delays := flag.String("delay", "", "comma-separated delay before each server's answer, in the order of -listen (default none)")
	size := flag.Int("body", 64, "bytes in each answer's body")
	flag.Parse()
	if err := run(strings.Split(*listen, ","), *delays, *size); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

func run(addrs []string, delayList string, size int) error {
	delays := make([]time.Duration, len(addrs))
	if delayList != "" {
		ds := strings.Split(delayList, ",")
		if len(ds) != len(addrs) {
			return fmt.Errorf("-delay has %d values for %d addresses", len(ds), len(addrs))
		}
		for i, s := range ds {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("-delay %q: %w", s, err)
			}
			delays[i] = d
		}
	}
	body := []byte(strings.Repeat("x", max(size-1, 0)) + "\n")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var servers []*http.Server
	errs := make(chan error, len(addrs))
	for i, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return err
		}
		srv := &http.Server{Handler: handler(delays[i], body), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("serve %s: %w", addr, err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if s.Shutdown(sctx) != nil {
				s.Close()
			}
		})
	}
	wg.Wait()
	return err
}

// handler answers / after delay and counts it; /stats is the count.
func handler(delay time.Duration, body []byte) http.Handler {
	var served atomic.Int64
	clen := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stats" {
			fmt.Fprintln(w, served.Load())
			return
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{clen}
		w.Write(body)
		served.Add(1)
	})
}

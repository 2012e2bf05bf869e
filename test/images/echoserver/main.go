// Command echoserver is a tiny HTTP server for tests that run it as a
// container image (built CGO_ENABLED=0 by test/imagetest):
//
//	GET /         the host name
//	GET /hello    "hello from <host name> to <client IP>"
//	GET /env      the environment
//	GET /healthz  ok, or 500 after /set?live=0 (a liveness probe)
//	GET /ready    ok, or 503 after /set?ready=0 (a readiness probe)
//	GET /set?ready=0|1&live=0|1
//
// Its environment: LISTEN sets the address (default ":8080"); DELAY (a Go
// duration) slows every answer, for load tests; LINES logs that many lines
// ("line 1", …) at start and TICK (a duration) one more every TICK;
// TERM_DELAY makes it wait that long after SIGTERM (having logged
// "terminating") before it exits 0.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = ":8080"
	}
	delay := duration("DELAY")
	host, _ := os.Hostname()
	var notReady, notLive atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if notLive.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if notReady.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("ready"); v != "" {
			notReady.Store(v == "0")
		}
		if v := r.URL.Query().Get("live"); v != "" {
			notLive.Store(v == "0")
		}
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, _ *http.Request) {
		env := os.Environ()
		sort.Strings(env)
		fmt.Fprintln(w, strings.Join(env, "\n"))
	})
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		ip, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "hello from %s to %s\n", host, ip)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(delay)
		fmt.Fprintln(w, host)
	})
	logLines()
	onTerm(duration("TERM_DELAY"))
	log.Printf("echoserver: listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// logLines prints LINES lines, then one every TICK.
func logLines() {
	lines, _ := strconv.Atoi(os.Getenv("LINES"))
	for i := range lines {
		fmt.Printf("line %d\n", i+1)
	}
	if tick := duration("TICK"); tick > 0 {
		go func() {
			for i := lines + 1; ; i++ {
				time.Sleep(tick)
				fmt.Printf("line %d\n", i)
			}
		}()
	}
}

// onTerm exits 0 on SIGTERM, after delay.
func onTerm(delay time.Duration) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Println("terminating")
		time.Sleep(delay)
		os.Exit(0)
	}()
}

func duration(name string) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		log.Fatalf("echoserver: %s %q: %v", name, v, err)
	}
	return d
}

// Command echoserver is a tiny HTTP server for tests that run it as a
// container image (built CGO_ENABLED=0 by test/imagetest): "/" answers
// with the host name, "/env" with the environment, "/healthz" with ok.
// LISTEN sets the address (default ":8080"); DELAY (a Go duration) slows
// every answer, for load tests.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

func main() {
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = ":8080"
	}
	var delay time.Duration
	if d := os.Getenv("DELAY"); d != "" {
		var err error
		if delay, err = time.ParseDuration(d); err != nil {
			log.Fatalf("echoserver: DELAY %q: %v", d, err)
		}
	}
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/env", func(w http.ResponseWriter, _ *http.Request) {
		env := os.Environ()
		sort.Strings(env)
		fmt.Fprintln(w, strings.Join(env, "\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(delay)
		fmt.Fprintln(w, host)
	})
	log.Printf("echoserver: listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

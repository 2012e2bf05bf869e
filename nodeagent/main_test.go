package nodeagent_test

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
)

// testServerEnv makes this test binary, started as a container's command,
// the tiny HTTP server the tests' pods run instead of the tests.
const testServerEnv = "SHOAL_AGENT_TEST_SERVER"

func TestMain(m *testing.M) {
	noderuntime.Init() // the containers' inits are this test binary
	if os.Getenv(testServerEnv) != "" {
		os.Exit(testServer(os.Args[1:]))
	}
	if _, ok := os.LookupEnv("GORACE"); !ok {
		// A race build sleeps a second at exit; inits and test servers need not.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	code := m.Run()
	removeTestCgroups()
	os.Exit(code)
}

// testServer serves HTTP on -listen:
//
//	GET /         hello from <hostname>
//	GET /ready    200, or 503 after /set?ready=0 (a readiness probe)
//	GET /healthz  200, or 500 after /set?live=0 (a liveness probe)
//	GET /set?ready=0|1&live=0|1
//
// It prints -lines log lines at start, one every -tick after that, and on
// SIGTERM waits -term-delay and exits 0.
func testServer(args []string) int {
	fs := flag.NewFlagSet("testserver", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address")
	lines := fs.Int("lines", 0, "log lines at start")
	tick := fs.Duration("tick", 0, "log a line this often")
	termDelay := fs.Duration("term-delay", 0, "wait this long on SIGTERM")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	host, _ := os.Hostname()
	var notReady, notLive atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello from %s\n", host) })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if notReady.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if notLive.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("ready"); v != "" {
			notReady.Store(v == "0")
		}
		if v := r.URL.Query().Get("live"); v != "" {
			notLive.Store(v == "0")
		}
	})
	for i := range *lines {
		fmt.Printf("line %d\n", i+1)
	}
	if *tick > 0 {
		go func() {
			for i := *lines + 1; ; i++ {
				time.Sleep(*tick)
				fmt.Println("line " + strconv.Itoa(i))
			}
		}()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Println("terminating")
		time.Sleep(*termDelay)
		os.Exit(0)
	}()
	if err := http.ListenAndServe(*listen, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

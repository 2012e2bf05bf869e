// Command podstart measures pod start-up on a real node agent: `shoal up`
// (as root, with its agent) as a child process; pods of a tiny HTTP server
// behind a headless Service, created one by one at a steady rate and then
// as a burst; for each pod the time from its create call to Running+Ready
// (seen by a watch), to its IP in the cluster DNS answer, and to its IP in
// the Service's xDS assignment. `make bench-sched` runs it after the
// scheduler benchmark.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/shoalmesh/shoal/nodeagent"
	"github.com/shoalmesh/shoal/test/bench/benchenv"
)

// server is the pods' program: it answers HTTP 200 on :8080.
const server = `package main

import "net/http"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.ListenAndServe(":8080", nil)
}
`

func main() {
	pods := flag.Int("pods", 100, "pods per run")
	rate := flag.Float64("rate", 10, "pods created per second in the steady run")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if err := nodeagent.Preflight(""); err != nil {
		fmt.Printf("| pod start-up on the real agent | not measured: %v |\n", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *pods, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "podstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int, rate float64) error {
	dir, err := os.MkdirTemp("", "shoal-podstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "server")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(server), 0o644); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "main.go")
	build.Dir, build.Env = dir, append(os.Environ(), "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the pods' server: %v\n%s", err, out)
	}
	sh, err := benchenv.StartShoal(ctx, benchenv.ShoalOptions{Prefix: "podstart-", Agent: "on"})
	if err != nil {
		return err
	}
	defer sh.Stop()
	h, err := newHarness(ctx, sh, bin)
	if err != nil {
		return err
	}
	steady, err := h.measure(ctx, "steady", n, rate)
	if err != nil {
		return err
	}
	burst, err := h.measure(ctx, "burst", n, 0)
	if err != nil {
		return err
	}
	report(steady, burst, rate)
	return nil
}

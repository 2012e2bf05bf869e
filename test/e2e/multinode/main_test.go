// Package multinode tests a Shoal cluster of several nodes on one machine
// (nodeagent/nodeagenttest): each node a network namespace wired to a host
// bridge, with its own agent process; the control plane in-process. The
// tests need root and cgroups, and skip elsewhere.
package multinode

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/nodeagent/nodeagenttest"
	noderuntime "github.com/shoalmesh/shoal/nodeagent/runtime"
)

// podEnv makes this test binary, started as a container's command, the
// pods' program instead of the tests.
const podEnv = "SHOAL_MULTINODE_POD"

func TestMain(m *testing.M) {
	noderuntime.Init()   // the containers' inits are this binary
	nodeagenttest.Main() // and so are the node agents
	if os.Getenv(podEnv) != "" {
		os.Exit(podMain(os.Args[1:]))
	}
	if _, ok := os.LookupEnv("GORACE"); !ok {
		// A race build sleeps a second at exit; inits and pods need not.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// podMain is what the pods run:
//
//	-listen=ADDR  serve HTTP: GET / answers "hello from <hostname> to <client IP>"
//	-get=URL      GET URL until it answers 200 (at most -for), print the
//	              body and exit 0; exit 1 if it never does
func podMain(args []string) int {
	fs := flag.NewFlagSet("pod", flag.ContinueOnError)
	listen := fs.String("listen", "", "serve HTTP on this address")
	get := fs.String("get", "", "GET this URL")
	wait := fs.Duration("for", 20*time.Second, "keep trying -get this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *listen != "":
		host, _ := os.Hostname()
		err := http.ListenAndServe(*listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprintf(w, "hello from %s to %s\n", host, ip)
		}))
		fmt.Fprintln(os.Stderr, err)
		return 1
	case *get != "":
		deadline := time.Now().Add(*wait)
		for {
			body, err := httpGet(*get)
			if err == nil {
				fmt.Print(body)
				return 0
			}
			if time.Now().After(deadline) {
				fmt.Fprintln(os.Stderr, "GET", *get, "failed:", err)
				return 1
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	fmt.Fprintln(os.Stderr, "want -listen or -get")
	return 2
}

func httpGet(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), err
}

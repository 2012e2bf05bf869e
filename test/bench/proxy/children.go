package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// child is a process this benchmark started, its output in a log file.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	stop    sync.Once
}

// children are every child started, so that one deferred call ends them
// all, on success, error or a signal alike.
type children struct {
	dir  string
	mu   sync.Mutex
	list []*child
}

// start runs args as a child logging to <dir>/<name>.log. If this process
// dies without stopping it, the kernel sends it deathSig: SIGTERM for
// `shoal proxy`, which then takes its VIP off lo; SIGKILL for the rest.
func (cs *children) start(name string, deathSig syscall.Signal, args ...string) (*child, error) {
	c := &child{name: name, logPath: filepath.Join(cs.dir, name+".log"), exited: make(chan struct{})}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	c.cmd = exec.Command(args[0], args[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: deathSig}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { c.cmd.Wait(); close(c.exited) }()
	cs.mu.Lock()
	cs.list = append(cs.list, c)
	cs.mu.Unlock()
	return c, nil
}

// stopAll stops every child still running, the last started first.
func (cs *children) stopAll() {
	cs.mu.Lock()
	list := cs.list
	cs.list = nil
	cs.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].terminate()
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// terminate sends SIGTERM and waits for the exit (SIGKILL after 10 s).
func (c *child) terminate() {
	c.stop.Do(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-c.exited
		}
	})
}

// logTail is the last n lines of the child's output.
func (c *child) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitFor polls check every 100 ms until it succeeds, the child exits, ctx
// ends or timeout passes.
func (c *child) waitFor(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not ready after %v: %w\n%s's output ends:\n%s", c.name, what, timeout, err, c.name, c.logTail(20))
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited (%v) before %s was ready; its output ends:\n%s", c.name, c.cmd.ProcessState, what, c.logTail(20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probe is a client for readiness checks and the backends' counters: no
// keep-alive, so it never holds a connection into a measured run.
var probe = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(url string) (string, error) {
	resp, err := probe.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// backendCounts reads each backend's count of answered requests.
func backendCounts() ([]int64, error) {
	out := make([]int64, len(backendIPs))
	for i, addr := range backendAddrs() {
		s, err := get("http://" + addr + "/stats")
		if err != nil {
			return nil, err
		}
		if out[i], err = strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil {
			return nil, fmt.Errorf("backend %s /stats: %w", addr, err)
		}
	}
	return out, nil
}

// startBackends runs the backend program with one delay per backend and
// waits until each answers.
func (cs *children) startBackends(ctx context.Context, bin string, delays []time.Duration) (*child, error) {
	ds := make([]string, len(delays))
	for i, d := range delays {
		ds[i] = d.String()
	}
	c, err := cs.start("backend", syscall.SIGKILL, bin, "-listen", strings.Join(backendAddrs(), ","), "-delay", strings.Join(ds, ","))
	if err != nil {
		return nil, err
	}
	err = c.waitFor(ctx, 30*time.Second, "backends", func() error { _, err := backendCounts(); return err })
	if err != nil {
		c.terminate()
		return nil, err
	}
	return c, nil
}

// spreadCheck sends sequential GETs to url over one keep-alive client
// connection until every backend has answered at least one: the proxy
// knows all three endpoints and balances each request, not each client
// connection. A proxy that closes the connection fails the check.
func spreadCheck(ctx context.Context, c *child, url string) error {
	before, err := backendCounts()
	if err != nil {
		return err
	}
	var dials atomic.Int32
	d := &net.Dialer{Timeout: time.Second}
	tr := &http.Transport{MaxConnsPerHost: 1, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	return c.waitFor(ctx, 30*time.Second, "all three backends over one connection", func() error {
		for range 10 {
			resp, err := client.Get(url)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s", url, resp.Status)
			}
		}
		if n := dials.Load(); n != 1 {
			return fmt.Errorf("%d client connections for sequential keep-alive requests; want 1", n)
		}
		now, err := backendCounts()
		if err != nil {
			return err
		}
		for i := range now {
			if now[i] == before[i] {
				return fmt.Errorf("backend %s got none of the requests on one client connection yet", backendIPs[i])
			}
		}
		return nil
	})
}

// startShoalProxy runs `shoal proxy` and waits until the VIP answers
// through it with every backend.
// adminAddr is a free port for its admin endpoint, if it has one (not
// its default 127.0.0.1:15000, which another proxy on this machine may hold).
func (cs *children) startShoalProxy(ctx context.Context, bin, xdsAddr, adminAddr string, vip netip.Addr, roundRobin bool) (*child, error) {
	args := []string{bin, "proxy", "--xds", xdsAddr, "--node-id", "bench-proxy", "--log-level", "warn"}
	if adminAddr != "" {
		args = append(args, "--admin-addr", adminAddr)
	}
	name := "shoal-proxy-least"
	if roundRobin {
		args = append(args, "--round-robin")
		name = "shoal-proxy-rr"
	}
	c, err := cs.start(name, syscall.SIGTERM, args...)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://%s/", netip.AddrPortFrom(vip, servicePort))
	err = c.waitFor(ctx, time.Minute, url, func() error { _, err := get(url); return err })
	if err == nil {
		err = spreadCheck(ctx, c, url)
	}
	if err != nil {
		c.terminate()
		return nil, err
	}
	return c, nil
}

// haproxyConfig is HAProxy in HTTP mode with keep-alive on both sides,
// leastconn over the three backends, two threads, no logging. HTTP mode
// balances each request (option prefer-last-server is off); the backends'
// counters confirm it.
func haproxyConfig(addr string, threads int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    nbthread %d
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend web
    bind %s
    default_backend web

backend web
    balance leastconn
`, threads, addr)
	for i, a := range backendAddrs() {
		fmt.Fprintf(&b, "    server b%d %s\n", i+1, a)
	}
	return b.String()
}

// startHAProxy writes the config, checks it with haproxy -c, runs HAProxy
// in the foreground and waits until it answers with every backend.
func (cs *children) startHAProxy(ctx context.Context, dir, addr string, threads int) (*child, error) {
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(addr, threads)), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "haproxy", "-c", "-f", cfg).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy -c -f %s: %w: %s", cfg, err, out)
	}
	c, err := cs.start("haproxy", syscall.SIGKILL, "haproxy", "-db", "-f", cfg)
	if err != nil {
		return nil, err
	}
	url := "http://" + addr + "/"
	err = c.waitFor(ctx, 30*time.Second, url, func() error { _, err := get(url); return err })
	if err == nil {
		err = spreadCheck(ctx, c, url)
	}
	if err != nil {
		c.terminate()
		return nil, err
	}
	return c, nil
}

// hasFlag reports whether `shoal <command> -h` lists flag.
func hasFlag(bin, command, flag string) bool {
	out, _ := exec.Command(bin, command, "-h").CombinedOutput()
	return strings.Contains(string(out), "-"+flag+" ")
}

package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// server is one of the compared DNS servers, run as a child process.
type server struct {
	name, mode, plugin string
	addr               string
	cmd                *exec.Cmd
	results            []result // throughput rounds
	latency            result   // the run at a fixed load
	rss, peak          int64    // bytes, after the runs
}

// corefile is the same for both servers but for the plugin: errors, no
// cache.
func (s *server) corefile() string {
	host, port, _ := net.SplitHostPort(s.addr)
	return fmt.Sprintf("cluster.local:%[1]s in-addr.arpa:%[1]s {\n    bind %[2]s\n    errors\n    %[3]s\n}\n", port, host, s.plugin)
}

func (s *server) start(ctx context.Context, bin, dir, cpu, profiles string) error {
	path := filepath.Join(dir, "Corefile."+s.mode)
	if err := os.WriteFile(path, []byte(s.corefile()), 0o600); err != nil {
		return err
	}
	args := []string{bin, "-mode", s.mode, "-corefile", path}
	if profiles != "" {
		args = append(args, "-cpuprofile", filepath.Join(profiles, s.mode+".prof"))
	}
	if cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	s.cmd = exec.CommandContext(ctx, args[0], args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	return nil
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// waitSynced polls until the server answers for the last service created
// and for every service's A or SRV.
func (s *server) waitSynced(objs []object, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &dns.Client{Timeout: time.Second}
	for _, o := range objs {
		m := new(dns.Msg)
		m.SetQuestion("_http._tcp."+o.fqdn(), dns.TypeSRV)
		for {
			r, _, err := c.Exchange(m, s.addr)
			if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no answer for %s within %v: %v %v", m.Question[0].Name, timeout, r, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// median is the throughput round with the median QPS.
func (s *server) median() result {
	rs := slices.Clone(s.results)
	slices.SortFunc(rs, func(a, b result) int { return cmp.Compare(a.qps, b.qps) })
	return rs[len(rs)/2]
}

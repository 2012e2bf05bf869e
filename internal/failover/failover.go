// Package failover spreads a client-go client over several API servers:
// requests go to one server until it cannot be reached, then to the next,
// the way a kubelet behind a load balancer would see it, without one. The
// list is the servers given plus the `kubernetes` Service's endpoints
// (every live API server's advertised address), learned at start and kept
// current.
//
//	s, err := failover.New([]string{"https://10.0.0.1:6443", "https://10.0.0.2:6443"}, log)
//	rc := &rest.Config{Host: s.Current(), WrapTransport: s.Wrap, BearerToken: token, ...}
//	cs := kubernetes.NewForConfigOrDie(rc)
//	s.Learn(ctx, cs)          // add the live API servers
//	go s.Run(ctx, cs, time.Minute)
package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Servers is the list of API servers and the one in use.
type Servers struct {
	log *slog.Logger
	// given are the servers the user named; they stay in the list.
	given []string
	mu    sync.Mutex // serializes changes of hosts
	hosts atomic.Pointer[[]string]
	cur   atomic.Uint32
}

// New returns the list of servers (https://host:port URLs); the first is
// used first.
func New(servers []string, log *slog.Logger) (*Servers, error) {
	if len(servers) == 0 {
		return nil, errors.New("failover: no API server")
	}
	var hosts []string
	for _, s := range servers {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("API server %q: want https://host:port", s)
		}
		if !slices.Contains(hosts, u.Host) {
			hosts = append(hosts, u.Host)
		}
	}
	s := &Servers{log: log.With("component", "failover"), given: hosts}
	s.hosts.Store(&hosts)
	return s, nil
}

// Current is the URL of the server in use.
func (s *Servers) Current() string {
	hosts := *s.hosts.Load()
	return "https://" + hosts[int(s.cur.Load())%len(hosts)]
}

// Hosts are the servers' host:port, in the order they are tried.
func (s *Servers) Hosts() []string { return slices.Clone(*s.hosts.Load()) }

// Wrap is a rest.Config's WrapTransport: it sends each request to the
// server in use and, when that one cannot be reached, moves to the next.
func (s *Servers) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper{s: s, next: rt}
}

type roundTripper struct {
	s    *Servers
	next http.RoundTripper
}

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	hosts := *t.s.hosts.Load()
	var last error
	for range hosts {
		i := t.s.cur.Load()
		host := hosts[int(i)%len(hosts)]
		r := req.Clone(req.Context())
		r.URL.Host, r.Host = host, ""
		if last != nil && req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, last
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, last
			}
			r.Body = body
		}
		resp, err := t.next.RoundTrip(r)
		if err == nil {
			return resp, nil
		}
		// Whatever broke, the next request tries the next server; only a
		// request that never reached this one is sent again at once.
		if t.s.cur.CompareAndSwap(i, i+1) {
			t.s.log.Warn("API server unreachable; trying the next", "server", host, "next", hosts[int(i+1)%len(hosts)], "err", err)
		}
		err = fmt.Errorf("API server %s: %w", host, err)
		if !unreached(err) || req.Context().Err() != nil {
			return nil, err
		}
		last = err
	}
	return nil, last
}

// unreached reports whether err means no connection was made, so the
// request was not sent.
func unreached(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Learn adds the `kubernetes` Service's endpoints, every live API
// server, to the list (dropping the learned ones that left it; the given
// ones stay).
func (s *Servers) Learn(ctx context.Context, cs kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ep, err := cs.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("learn the API servers: %w", err)
	}
	hosts := slices.Clone(s.given)
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			for _, p := range ss.Ports {
				if h := net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))); !slices.Contains(hosts, h) {
					hosts = append(hosts, h)
				}
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.hosts.Load()
	if slices.Equal(old, hosts) {
		return nil
	}
	// Keep using the server in use if it is still there.
	cur := old[int(s.cur.Load())%len(old)]
	s.hosts.Store(&hosts)
	if i := slices.Index(hosts, cur); i >= 0 {
		s.cur.Store(uint32(i))
	}
	s.log.Info("API servers", "servers", hosts)
	return nil
}

// Run learns the API servers every interval until ctx ends.
func (s *Servers) Run(ctx context.Context, cs kubernetes.Interface, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Learn(ctx, cs); err != nil && ctx.Err() == nil {
			s.log.Debug("learn the API servers", "err", err)
		}
	}
}

package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/shoalmesh/shoal/dns/cluster"
)

// Server is a running resolver: one Caddy instance of CoreDNS's server type.
type Server struct {
	log *slog.Logger
	// path is the Corefile's file, when it was read from one (reload reads
	// it again).
	path string

	udp, tcp string

	mu sync.Mutex
	// inst is the running instance; the reload plugin replaces it.
	inst    *caddy.Instance
	stopped bool

	stopOnce sync.Once
	stopErr  error
	done     chan struct{}
}

// startMu serializes Caddy start-up: the directive list, Caddy's and some
// plugins' set-up state are process-wide.
var startMu sync.Mutex

// Start runs the servers corefile describes and returns once they listen
// on UDP and TCP. They stop when ctx ends or Stop is called. A Corefile error
// names its line.
func Start(ctx context.Context, corefile string, log *slog.Logger) (*Server, error) {
	return start(ctx, "Corefile", "", []byte(corefile), log)
}

// StartFile is Start with the Corefile read from path; the reload plugin,
// when the Corefile uses it, re-reads that file.
func StartFile(ctx context.Context, path string, log *slog.Logger) (*Server, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read corefile: %w", err)
	}
	return start(ctx, path, path, body, log)
}

func start(ctx context.Context, name, path string, body []byte, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Caddy would run CoreDNS's default server (.:53, whoami) for a
	// Corefile without server blocks.
	blocks, err := caddyfile.Parse(name, bytes.NewReader(body), directives)
	if err != nil {
		return nil, err
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNoServer)
	}
	if err := checkBlocks(name, body, blocks); err != nil {
		return nil, err
	}
	s := &Server{log: log, path: path, done: make(chan struct{})}
	in := &input{owner: s, name: name, body: body}

	startMu.Lock()
	setup()
	useLogger(log)
	cluster.UseLogger(log.With("plugin", "cluster"))
	if err := dnsserver.SetDirectives(directives); err != nil {
		startMu.Unlock()
		return nil, fmt.Errorf("set directives: %w", err)
	}
	inst, err := caddy.Start(in)
	startMu.Unlock()
	if err != nil {
		if inst != nil {
			inst.ShutdownCallbacks()
			inst.Stop()
		}
		return nil, corefileError(err, name, body)
	}
	s.setInstance(inst)
	servers := inst.Servers()
	s.udp, s.tcp = addrString(servers[0].LocalAddr()), addrString(servers[0].Addr())
	if err := waitServing(ctx, inst); err != nil {
		s.Stop()
		return nil, err
	}
	live.add(s)
	log.Info("dns server listening", "udp", s.udp, "tcp", s.tcp, "corefile", name)

	go func() {
		select {
		case <-ctx.Done():
			s.Stop()
		case <-s.done:
		}
	}()
	return s, nil
}

// UDPAddr and TCPAddr are the addresses the first server listens on (for
// a Corefile on port 0 they differ).
func (s *Server) UDPAddr() string { return s.udp }
func (s *Server) TCPAddr() string { return s.tcp }

// Addr is the DNS address, UDP's (TCP's is the same unless the Corefile
// asked for port 0).
func (s *Server) Addr() string { return s.udp }

// Done is closed once the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop runs the plugins' shutdown callbacks, closes the listeners and waits
// for the serving goroutines to end. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		inst := s.inst
		s.inst, s.stopped = nil, true
		s.mu.Unlock()
		live.remove(s)
		if inst != nil {
			s.stopErr = stopInstance(inst)
		}
		if s.stopErr != nil {
			s.log.Warn("dns server stopped with errors", "err", s.stopErr)
		} else {
			s.log.Info("dns server stopped")
		}
		close(s.done)
	})
	return s.stopErr
}

// setInstance records inst as the running instance: at start and after
// each reload.
func (s *Server) setInstance(inst *caddy.Instance) {
	s.mu.Lock()
	stopped := s.stopped
	if !stopped {
		s.inst = inst
	}
	s.mu.Unlock()
	if stopped { // a reload that finished after Stop began
		stopInstance(inst)
	}
}

// stopInstance runs inst's shutdown callbacks first, as Caddy's own signal
// handling does (health's lameduck keeps answering while it waits), then
// stops its servers and waits for them.
func stopInstance(inst *caddy.Instance) error {
	errs := inst.ShutdownCallbacks()
	if err := inst.Stop(); err != nil {
		errs = append(errs, err)
	}
	inst.Wait()
	return errors.Join(errs...)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Run serves the Corefile at path until ctx ends (`shoal dns`).
func Run(ctx context.Context, path string, log *slog.Logger) error {
	s, err := StartFile(ctx, path, log)
	if err != nil {
		return err
	}
	<-s.Done()
	return s.stopErr
}

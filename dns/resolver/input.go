package resolver

import (
	"fmt"
	"os"
	"sync"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

// serverType is CoreDNS's Caddy server type.
const serverType = "dns"

// input is a Corefile handed to Caddy. It remembers the Server it belongs
// to, so that the instance a reload starts can be traced back to it.
type input struct {
	owner *Server
	name  string
	body  []byte
}

var _ caddy.Input = (*input)(nil)

func (in *input) Body() []byte       { return in.body }
func (in *input) Path() string       { return in.name }
func (in *input) ServerType() string { return serverType }

// setup installs, once per process, the Caddyfile loader that the reload
// plugin asks for the current Corefile and the hook that learns of the
// instances a reload starts.
var setup = sync.OnceFunc(func() {
	caddy.Quiet = true     // no start-up banner on stdout
	dnsserver.Quiet = true // nor the list of zones
	caddy.RegisterCaddyfileLoader("shoal", caddy.LoaderFunc(loadCorefile))
	caddy.RegisterEventHook("shoal-resolver", func(event caddy.EventName, info any) error {
		if event != caddy.InstanceStartupEvent {
			return nil
		}
		inst, ok := info.(*caddy.Instance)
		if !ok {
			return nil
		}
		if in, ok := inst.Caddyfile().(*input); ok && in.owner != nil {
			in.owner.setInstance(inst)
		}
		return nil
	})
})

// loadCorefile is what reload gets when it checks for a changed Corefile.
// Caddy's loaders are process-wide and reload does not say which instance
// asks, so the file is re-read only when exactly one server runs and it was
// started from a file; otherwise reload sees an error and keeps running what
// it has.
func loadCorefile(string) (caddy.Input, error) {
	s := live.only()
	if s == nil || s.path == "" {
		return nil, ErrNoReloadSource
	}
	body, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("read corefile: %w", err)
	}
	return &input{owner: s, name: s.path, body: body}, nil
}

// live are the servers running in this process.
var live servers

type servers struct {
	mu sync.Mutex
	m  map[*Server]struct{}
}

func (l *servers) add(s *Server) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[*Server]struct{})
	}
	l.m[s] = struct{}{}
}

func (l *servers) remove(s *Server) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, s)
}

// only is the one running server, or nil when there are none or several.
func (l *servers) only() *Server {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) != 1 {
		return nil
	}
	for s := range l.m {
		return s
	}
	return nil
}

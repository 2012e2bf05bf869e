package benchenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ShoalOptions configure a `shoal up` child process.
type ShoalOptions struct {
	// Parent is where its temp dir goes ("" for the system's); Prefix names
	// the temp dir.
	Parent, Prefix string
	// Bin is a shoal binary; "" builds ./cmd/shoal of this module into the
	// temp dir.
	Bin string
	// CPUs pins the process with `taskset -c CPUs` ("" leaves it free).
	CPUs string
	// LogLevel is its --log-level (default warn).
	LogLevel string
	// Ready bounds the wait for the API server to answer /readyz (default
	// 2 minutes).
	Ready time.Duration
	// Agent is its --agent (default off: no pods run on this host).
	Agent string
	// Prepare, if set, is called with the data dir before shoal starts
	// (to put image archives in <data dir>/images, say).
	Prepare func(dataDir string) error
}

// Shoal is `shoal up` running as a child process on free 127.0.0.1 ports,
// its data (etcd, PKI, tokens, kubeconfig), binary and log in a temp dir
// that Stop removes. Its memory is its own, apart from the benchmark's.
type Shoal struct {
	Dir, DataDir                        string
	APIAddr, EtcdAddr, DNSAddr, XDSAddr string
	Kubeconfig                          string
	// REST is the admin's client config (bearer token, the cluster CA).
	REST *rest.Config

	cmd     *exec.Cmd
	logPath string
	http    *http.Client
	exited  chan struct{}
	stop    sync.Once
}

// ModuleRoot is the directory of the go.mod above the working directory
// (`make bench-*` and `go run ./test/bench/...` run from the repository).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository")
		}
		dir = parent
	}
}

// BuildShoal builds ./cmd/shoal into dir and returns the binary's path.
func BuildShoal(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "shoal")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/shoal")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/shoal: %w", err)
	}
	return bin, nil
}

// StartShoal runs `shoal up` with free ports and a fresh data dir, and
// returns once its API server answers /readyz with the admin's token. On
// error nothing is left running or on disk.
func StartShoal(ctx context.Context, o ShoalOptions) (_ *Shoal, err error) {
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if o.Agent == "" {
		o.Agent = "off"
	}
	if o.Ready == 0 {
		o.Ready = 2 * time.Minute
	}
	dir, err := os.MkdirTemp(o.Parent, o.Prefix)
	if err != nil {
		return nil, err
	}
	s := &Shoal{Dir: dir, DataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "shoal.log"), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			if tail := s.LogTail(20); tail != "" {
				err = fmt.Errorf("%w\nshoal's log ends:\n%s", err, tail)
			}
			s.Stop()
		}
	}()
	if o.Prepare != nil {
		if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
			return s, err
		}
		if err := o.Prepare(s.DataDir); err != nil {
			return s, err
		}
	}
	bin := o.Bin
	if bin == "" {
		if bin, err = BuildShoal(ctx, dir); err != nil {
			return s, err
		}
	}
	for _, a := range []*string{&s.APIAddr, &s.EtcdAddr, &s.DNSAddr, &s.XDSAddr} {
		if *a, err = FreeAddr(); err != nil {
			return s, err
		}
	}
	peer, err := FreeAddr()
	if err != nil {
		return s, err
	}
	args := []string{bin, "up", "--data-dir", s.DataDir, "--api-addr", s.APIAddr,
		"--etcd-client-addr", s.EtcdAddr, "--etcd-peer-addr", peer, "--dns-addr", s.DNSAddr,
		"--xds-addr", s.XDSAddr, "--agent=" + o.Agent, "--log-level", o.LogLevel}
	if o.CPUs != "" {
		args = append([]string{"taskset", "-c", o.CPUs}, args...) // taskset execs: same pid
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return s, err
	}
	defer logf.Close()
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// If this process dies without Stop, the kernel kills the child.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return s, fmt.Errorf("start shoal up: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()

	s.Kubeconfig = filepath.Join(s.DataDir, "kubeconfig")
	deadline := time.Now().Add(o.Ready)
	for {
		if err := s.ready(ctx); err == nil {
			return s, nil
		} else if time.Now().After(deadline) {
			return s, fmt.Errorf("shoal up not ready after %v: %w", o.Ready, err)
		}
		select {
		case <-s.exited:
			return s, fmt.Errorf("shoal up exited: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ready loads the kubeconfig once it exists and asks /readyz.
func (s *Shoal) ready(ctx context.Context) error {
	if s.http == nil {
		if _, err := os.Stat(s.Kubeconfig); err != nil {
			return err
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
		if err != nil {
			return err
		}
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return err
		}
		cfg.QPS, cfg.Burst = -1, 1<<20
		cfg.WarningHandler = rest.NoWarnings{}
		s.REST, s.http = cfg, hc
	}
	body, err := s.Get(ctx, "/readyz")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("/readyz: %q", body)
	}
	return nil
}

// Pid is the child's process id (taskset execs shoal, so it is shoal's).
func (s *Shoal) Pid() int { return s.cmd.Process.Pid }

// Exited is closed when the child has exited.
func (s *Shoal) Exited() <-chan struct{} { return s.exited }

// Clientset is a client-go clientset for the admin that never throttles
// itself.
func (s *Shoal) Clientset() (*kubernetes.Clientset, error) { return kubernetes.NewForConfig(s.REST) }

// Get fetches a path of the API server as the admin and returns the body
// of a 200 answer.
func (s *Shoal) Get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", s.REST.Host+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, body)
	}
	return body, nil
}

// Metrics scrapes the API server's /metrics (the whole process's: Go
// runtime, API server, controllers, xDS).
func (s *Shoal) Metrics(ctx context.Context) (Metrics, error) {
	body, err := s.Get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return ParseMetrics(strings.NewReader(string(body)))
}

// LogTail is the last n lines of the child's log.
func (s *Shoal) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Stop ends the child (SIGTERM, SIGKILL after 15 s) and removes its temp
// dir. It is safe to call more than once.
func (s *Shoal) Stop() {
	s.stop.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(15 * time.Second):
				s.cmd.Process.Kill()
				<-s.exited
			}
		}
		os.RemoveAll(s.Dir)
	})
}

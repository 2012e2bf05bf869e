package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// Bounds on waits for a child; generous so a loaded CI machine (or a -race
// build) does not fail them. They are deadlines, not timing assertions.
const (
	readyTimeout = 30 * time.Second
	exitTimeout  = 30 * time.Second
)

// buildShoal builds ./cmd/shoal into dir, with -race when the tests run
// with it.
func buildShoal(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		t.Fatalf("find the module root: go env GOMOD = %q, %v", gomod, err)
	}
	bin := filepath.Join(dir, "shoal")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/shoal")...)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	t.Logf("built %s in %v (race=%v)", bin, time.Since(start).Round(time.Millisecond), raceEnabled)
	return bin
}

// shoalAddrs are the loopback addresses one `shoal up` listens on; a restart
// reuses them, as a user restarting it would.
type shoalAddrs struct{ API, EtcdClient, EtcdPeer, DNS, XDS string }

func freeAddrs(t *testing.T) shoalAddrs {
	return shoalAddrs{testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)}
}

func upArgs(dataDir string, a shoalAddrs, extra ...string) []string {
	return append([]string{"up", "--data-dir", dataDir, "--api-addr", a.API,
		"--etcd-client-addr", a.EtcdClient, "--etcd-peer-addr", a.EtcdPeer, "--dns-addr", a.DNS, "--xds-addr", a.XDS, "--agent=off"}, extra...)
}

// shoalProc is a `shoal` child process, killed when the test ends.
type shoalProc struct {
	dataDir string
	cmd     *exec.Cmd
	started time.Time
	stdout  syncBuffer
	stderr  syncBuffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid once done is closed
}

// startShoal runs `bin up` on dataDir and addrs.
func startShoal(t *testing.T, bin, dataDir string, a shoalAddrs, extra ...string) *shoalProc {
	t.Helper()
	p := startProcess(t, bin, upArgs(dataDir, a, extra...)...)
	p.dataDir = dataDir
	return p
}

// startProcess runs `bin args...`.
func startProcess(t *testing.T, bin string, args ...string) *shoalProc {
	t.Helper()
	p := &shoalProc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start shoal: %v", err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // an error only means it has exited already
		select {
		case <-p.done:
		case <-time.After(exitTimeout):
			t.Errorf("shoal (pid %d) still running %v after SIGKILL", p.cmd.Process.Pid, exitTimeout)
		}
		if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("data race in shoal (pid %d):\n%s", p.cmd.Process.Pid, p.stderr.String())
		} else if t.Failed() {
			t.Logf("shoal (pid %d) stdout:\n%s\nstderr:\n%s", p.cmd.Process.Pid, p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// exit waits up to timeout for the process to exit and returns its exit code.
func (p *shoalProc) exit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("shoal (pid %d) did not exit within %v", p.cmd.Process.Pid, timeout)
	}
	var ee *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &ee) {
		t.Fatalf("wait for shoal: %v", p.waitErr)
	}
	return p.cmd.ProcessState.ExitCode() // -1 when killed by a signal
}

func (p *shoalProc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v to shoal: %v", sig, err)
	}
}

func (p *shoalProc) kubeconfig() string { return filepath.Join(p.dataDir, "kubeconfig") }

// waitReady polls GET /readyz over HTTPS, trusting only the CA in the
// kubeconfig Shoal wrote, until it answers "ok"; it returns the time since
// the process started.
func (p *shoalProc) waitReady(t *testing.T) time.Duration {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		select {
		case <-p.done:
			t.Fatalf("shoal exited before it was ready (%v); stderr:\n%s", p.waitErr, p.stderr.String())
		default:
		}
		if last = p.readyz(); last == nil {
			return time.Since(p.started)
		}
		if time.Now().After(deadline) {
			t.Fatalf("shoal not ready within %v: %v", readyTimeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *shoalProc) readyz() error {
	kc, err := clientcmd.LoadFromFile(p.kubeconfig())
	if err != nil {
		return err
	}
	cl := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster]
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cl.CertificateAuthorityData) {
		return fmt.Errorf("no CA certificate in %s", p.kubeconfig())
	}
	hc := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}
	resp, err := hc.Get(cl.Server + "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		return fmt.Errorf("GET /readyz: %s %q", resp.Status, body)
	}
	return nil
}

// clientset is an admin client from the kubeconfig Shoal wrote.
func (p *shoalProc) clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", p.kubeconfig())
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	cfg.Timeout = 10 * time.Second
	cfg.WarningHandler = rest.NoWarnings{} // "image is kept but not pulled"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs
}

// syncBuffer is a bytes.Buffer the child's output can be copied into while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

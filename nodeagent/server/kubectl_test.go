package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// kubectls are the kubectl binaries to run: the dispatcher on the PATH
// (which picks the kubectl of the server's minor version, 1.33 for
// Shoal) and, beside it, the versioned binaries it dispatches to, so that
// every version users may run is tried: 1.28 speaks SPDY only; 1.30 tries
// WebSocket v5 for exec, attach and cp first; 1.31 on also tunnels
// port-forward over WebSocket.
func kubectls(t *testing.T) map[string]string {
	t.Helper()
	testenv.Require(t, testenv.Kubectl)
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{"dispatcher": path}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.28", "1.30", "1.31", "1.32", "1.33"} {
		if p := filepath.Join(filepath.Dir(real), "kubectl."+v); fileExists(p) {
			out[v] = p
		}
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// kubectl runs bin with the test cluster's kubeconfig.
func (e *streamEnv) kubectl(ctx context.Context, bin string, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", e.shoal.Kubeconfig}, args...)...)
	cmd.Stdin = stdin
	var o, eb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &eb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		e.t.Fatalf("kubectl %v: %v", args, err)
	}
	return o.String(), eb.String(), code
}

// TestKubectl runs the real kubectl's exec (with and without -it, exit
// codes passed through), cp both ways, port-forward, attach and logs -f
// -c against the API server and the node server on a real containerd,
// for every kubectl version on this machine.
func TestKubectl(t *testing.T) {
	bins := kubectls(t)
	e := startStreamEnv(t)
	for version, bin := range bins {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()

			// Which protocol each kubectl speaks, none falling back: 1.28
			// SPDY; 1.30 on WebSocket v5 for exec (translated to SPDY by
			// the API server); 1.31 on port-forward tunnelled over
			// WebSocket (untunnelled by the API server).
			t.Run("protocols", func(t *testing.T) {
				_, errOut, code := e.kubectl(ctx, bin, nil, "-v=8", "exec", "streamed", "-c", "shell", "--", "true")
				ws := strings.Contains(errOut, "The subprotocol is v5.channel.k8s.io")
				if code != 0 || ws != (version != "1.28") || strings.Contains(errOut, "fallback") {
					t.Errorf("exec: exit %d, WebSocket v5 %v; want it from 1.30 on, never a fallback:\n%s", code, ws, errOut)
				}
			})
			t.Run("exec exit code", func(t *testing.T) {
				out, errOut, code := e.kubectl(ctx, bin, nil, "exec", "streamed", "-c", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
				if code != 3 || out != "out\n" || !strings.Contains(errOut, "err\n") {
					t.Errorf("exit %d, stdout %q, stderr %q; want 3, out, err", code, out, errOut)
				}
			})
			t.Run("exec stdin", func(t *testing.T) {
				out, errOut, code := e.kubectl(ctx, bin, strings.NewReader("through stdin\n"), "exec", "-i", "streamed", "-c", "shell", "--", "cat")
				if code != 0 || out != "through stdin\n" {
					t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
				}
			})
			t.Run("exec -it", func(t *testing.T) {
				cmd := exec.CommandContext(ctx, bin, "--kubeconfig", e.shoal.Kubeconfig, "exec", "-it", "streamed", "-c", "shell", "--", "sh")
				tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 111})
				if err != nil {
					t.Fatal(err)
				}
				defer tty.Close()
				var out bytes.Buffer
				copied := make(chan struct{})
				go func() { io.Copy(&out, tty); close(copied) }()
				fmt.Fprint(tty, "echo answer=$((6*7)); stty size; exit 5\n")
				err = cmd.Wait()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 5 {
					t.Errorf("kubectl exec -it: %v, want exit status 5", err)
				}
				tty.Close()
				<-copied
				if !strings.Contains(out.String(), "answer=42") || !strings.Contains(out.String(), "33 111") {
					t.Errorf("terminal output %q; want answer=42 and the size 33 111", out.String())
				}
			})
			t.Run("cp", func(t *testing.T) {
				dir := t.TempDir()
				src := filepath.Join(dir, "up.txt")
				content := strings.Repeat("copied by kubectl cp "+version+"\n", 2000)
				os.WriteFile(src, []byte(content), 0o644)
				remote := "/tmp/cp-" + strings.ReplaceAll(version, ".", "-")
				if _, errOut, code := e.kubectl(ctx, bin, nil, "cp", src, "default/streamed:"+remote, "-c", "shell"); code != 0 {
					t.Fatalf("cp up: %d %s", code, errOut)
				}
				back := filepath.Join(dir, "down.txt")
				if _, errOut, code := e.kubectl(ctx, bin, nil, "cp", "default/streamed:"+remote, back, "-c", "shell"); code != 0 {
					t.Fatalf("cp down: %d %s", code, errOut)
				}
				if got, _ := os.ReadFile(back); string(got) != content {
					t.Errorf("copied back %d bytes, want the %d sent", len(got), len(content))
				}
			})
			t.Run("port-forward", func(t *testing.T) {
				pfCtx, stop := context.WithCancel(ctx)
				defer stop()
				cmd := exec.CommandContext(pfCtx, bin, "--kubeconfig", e.shoal.Kubeconfig, "-v=4", "port-forward", "pod/streamed", fmt.Sprintf(":%d", e.port))
				stdout, _ := cmd.StdoutPipe()
				errOut := &syncBuffer{} // written by exec's copier while we read
				cmd.Stderr = errOut
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() { stop(); cmd.Wait() }()
				re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)
				sc := bufio.NewScanner(stdout)
				var local string
				for local == "" && sc.Scan() {
					if m := re.FindStringSubmatch(sc.Text()); m != nil {
						local = m[1]
					}
				}
				if local == "" {
					t.Fatalf("no forwarding line; stderr %s", errOut.String())
				}
				go io.Copy(io.Discard, stdout)
				for i := range 5 {
					resp, err := http.Get("http://127.0.0.1:" + local + "/index.html")
					if err != nil {
						t.Fatalf("request %d: %v (%s)", i, err, errOut.String())
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != "hello from the pod\n" {
						t.Fatalf("request %d: %q", i, b)
					}
				}
				tunnelled := strings.Contains(errOut.String(), "negotiated protocol: portforward.k8s.io")
				if want := version != "1.28" && version != "1.30"; tunnelled != want || strings.Contains(errOut.String(), "fallback") {
					t.Errorf("port-forward tunnelled over WebSocket: %v, want %v, never a fallback:\n%s", tunnelled, want, errOut.String())
				}
			})
			t.Run("attach", func(t *testing.T) {
				aCtx, stop := context.WithCancel(ctx)
				defer stop()
				cmd := exec.CommandContext(aCtx, bin, "--kubeconfig", e.shoal.Kubeconfig, "attach", "-i", "streamed", "-c", "reader")
				stdin, _ := cmd.StdinPipe()
				stdout, _ := cmd.StdoutPipe()
				errOut := &syncBuffer{} // written by exec's copier while we read
				cmd.Stderr = errOut
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() { stop(); cmd.Wait() }()
				sc := bufio.NewScanner(stdout)
				for i := range 3 {
					want := fmt.Sprintf("got %s-%d", version, i)
					fmt.Fprintf(stdin, "%s-%d\n", version, i)
					if !sc.Scan() || sc.Text() != want {
						t.Fatalf("attached: %q, want %q (stderr %s)", sc.Text(), want, errOut.String())
					}
				}
			})
			t.Run("logs -f -c", func(t *testing.T) {
				lCtx, stop := context.WithCancel(ctx)
				defer stop()
				cmd := exec.CommandContext(lCtx, bin, "--kubeconfig", e.shoal.Kubeconfig, "logs", "-f", "streamed", "-c", "talker", "--tail=1")
				stdout, _ := cmd.StdoutPipe()
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() { stop(); cmd.Wait() }()
				sc := bufio.NewScanner(stdout)
				var prev int
				for range 3 {
					var n int
					if !sc.Scan() {
						t.Fatalf("logs -f ended: %v", sc.Err())
					}
					if _, err := fmt.Sscanf(sc.Text(), "line %d", &n); err != nil || (prev != 0 && n != prev+1) {
						t.Fatalf("followed %q after line %d", sc.Text(), prev)
					}
					prev = n
				}
			})
		})
	}
}

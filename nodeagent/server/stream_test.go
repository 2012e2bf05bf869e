package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/shoalmesh/shoal/cluster/clustertest"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/containerd/containerdtest"
	"github.com/shoalmesh/shoal/nodeagent/server/servertest"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// streamEnv is a control plane, a real containerd with one host-network
// pod of busybox containers, and the node server in front of it, all in
// this process: the path kubectl's streams take, minus kubectl.
type streamEnv struct {
	t     *testing.T
	shoal *clustertest.Shoal
	admin *rest.Config
	cs    *kubernetes.Clientset
	srv   *servertest.Server
	port  int // the httpd container serves here, on the host's loopback
}

const node = "stream-node"

func startStreamEnv(t *testing.T) *streamEnv {
	testenv.Require(t, testenv.Root, testenv.Containerd, testenv.Registry, testenv.Busybox)
	reg := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	busyboxRef := reg.Push(t, imagetest.Busybox(t), "busybox:1")
	rt := containerdtest.Start(t, containerdtest.Options{})
	ctx := t.Context()
	image, err := rt.Images.PullImage(ctx, &runtimeapi.ImageSpec{Image: busyboxRef}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sandboxCfg := rt.PodSandboxConfig("streamed", true)
	sandbox, err := rt.Runtime.Runtime.RunPodSandbox(ctx, sandboxCfg, "")
	if err != nil {
		t.Fatal(err)
	}
	pods := &servertest.Static{}
	pods.Add("default", "streamed", sandbox)
	e := &streamEnv{t: t, port: testenv.FreePort(t)}
	for _, c := range []struct {
		name  string
		args  []string
		stdin bool
	}{
		// The first is the default container, as a pod's first.
		{"shell", []string{"sleep 3600"}, false},
		{"talker", []string{"i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done"}, false},
		{"reader", []string{`while read l; do echo "got $l"; done`}, true},
		{"httpd", []string{fmt.Sprintf("echo hello from the pod > /tmp/index.html && exec httpd -f -p 127.0.0.1:%d -h /tmp", e.port)}, false},
	} {
		cfg := containerdtest.ContainerConfig(c.name, image, []string{"sh", "-c"}, c.args)
		cfg.Stdin = c.stdin
		id, err := rt.Runtime.Runtime.CreateContainer(ctx, sandbox, cfg, sandboxCfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Runtime.Runtime.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		pods.AddContainer("default", "streamed", c.name, id, filepath.Join(sandboxCfg.LogDirectory, cfg.LogPath))
	}

	e.shoal = clustertest.Start(t, clustertest.Options{})
	e.admin = e.shoal.RESTConfig(t)
	e.admin.WarningHandler = rest.NoWarnings{} // the process runtime's "image not pulled"
	e.cs = kubernetes.NewForConfigOrDie(e.admin)
	tok, err := e.shoal.Tokens.NodeToken(node)
	if err != nil {
		t.Fatal(err)
	}
	nodeREST := rest.AnonymousClientConfig(e.admin)
	nodeREST.BearerToken = tok
	e.srv = servertest.Start(t, servertest.Options{REST: nodeREST, Node: node, Pods: pods, Runtime: rt.Runtime.Runtime})

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "streamed", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: node, SchedulerName: "none"}}
	for _, c := range []string{"shell", "talker", "reader", "httpd"} {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: busyboxRef})
	}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].Stdin = pod.Spec.Containers[i].Name == "reader"
	}
	created, err := e.cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Running, as an agent would report it: kubectl port-forward and
	// attach want that.
	created.Status.Phase = corev1.PodRunning
	if _, err := e.cs.CoreV1().Pods("default").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// execURL is the API server's pods/exec URL for opts.
func (e *streamEnv) execURL(opts *corev1.PodExecOptions) *url.URL {
	return e.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("streamed").
		SubResource("exec").VersionedParams(opts, scheme.ParameterCodec).URL()
}

func (e *streamEnv) attachURL(opts *corev1.PodAttachOptions) *url.URL {
	return e.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("streamed").
		SubResource("attach").VersionedParams(opts, scheme.ParameterCodec).URL()
}

// executors are client-go's, as kubectl uses them: SPDY (every kubectl)
// and WebSocket v5 (kubectl ≥ 1.30 tries it first).
func (e *streamEnv) executors(u *url.URL) map[string]remotecommand.Executor {
	e.t.Helper()
	spdyExec, err := remotecommand.NewSPDYExecutor(e.admin, "POST", u)
	if err != nil {
		e.t.Fatal(err)
	}
	wsExec, err := remotecommand.NewWebSocketExecutor(e.admin, "GET", u.String())
	if err != nil {
		e.t.Fatal(err)
	}
	return map[string]remotecommand.Executor{"spdy": spdyExec, "websocket": wsExec}
}

func TestStreams(t *testing.T) {
	e := startStreamEnv(t)

	t.Run("exec", func(t *testing.T) {
		u := e.execURL(&corev1.PodExecOptions{Container: "shell", Command: []string{"sh", "-c", "cat; echo to stderr >&2; exit 3"}, Stdin: true, Stdout: true, Stderr: true})
		for name, ex := range e.executors(u) {
			t.Run(name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := ex.StreamWithContext(t.Context(), remotecommand.StreamOptions{Stdin: strings.NewReader("hello\n"), Stdout: &stdout, Stderr: &stderr})
				var exit utilexec.ExitError
				if !errors.As(err, &exit) || exit.ExitStatus() != 3 {
					t.Errorf("err %v (%T), want exit status 3", err, err)
				}
				if stdout.String() != "hello\n" || stderr.String() != "to stderr\n" {
					t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
				}
			})
		}
	})

	t.Run("exec success and container", func(t *testing.T) {
		u := e.execURL(&corev1.PodExecOptions{Container: "talker", Command: []string{"hostname"}, Stdout: true})
		for name, ex := range e.executors(u) {
			var stdout bytes.Buffer
			if err := ex.StreamWithContext(t.Context(), remotecommand.StreamOptions{Stdout: &stdout}); err != nil || stdout.Len() == 0 {
				t.Errorf("%s: %q, %v", name, stdout.String(), err)
			}
		}
	})

	t.Run("tty resize", func(t *testing.T) {
		u := e.execURL(&corev1.PodExecOptions{Container: "shell", Command: []string{"sh", "-c", "sleep 0.5; stty size"}, Stdout: true, TTY: true})
		for name, ex := range e.executors(u) {
			t.Run(name, func(t *testing.T) {
				var stdout bytes.Buffer
				sizes := &sizeQueue{sizes: []remotecommand.TerminalSize{{Width: 123, Height: 45}}, done: make(chan struct{})}
				defer close(sizes.done)
				err := ex.StreamWithContext(t.Context(), remotecommand.StreamOptions{Stdout: &stdout, Tty: true, TerminalSizeQueue: sizes})
				if err != nil || strings.TrimSpace(stdout.String()) != "45 123" {
					t.Errorf("stty size: %q, %v; want 45 123", stdout.String(), err)
				}
			})
		}
	})

	t.Run("attach", func(t *testing.T) {
		u := e.attachURL(&corev1.PodAttachOptions{Container: "reader", Stdin: true, Stdout: true})
		for name, ex := range e.executors(u) {
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				stdinR, stdinW := io.Pipe()
				outR, outW := io.Pipe()
				done := make(chan error, 1)
				go func() { done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdinR, Stdout: outW}) }()
				sc := bufio.NewScanner(outR)
				for i := range 3 {
					fmt.Fprintf(stdinW, "%s-%d\n", name, i)
					if !sc.Scan() || sc.Text() != fmt.Sprintf("got %s-%d", name, i) {
						t.Fatalf("attached: %q, %v", sc.Text(), sc.Err())
					}
				}
				cancel()
				<-done
				stdinW.Close()
				outR.Close()
			})
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		u := e.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("streamed").SubResource("portforward").URL()
		tr, up, err := spdy.RoundTripperFor(e.admin)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := portforward.NewSPDYOverWebsocketDialer(u, e.admin)
		if err != nil {
			t.Fatal(err)
		}
		dialers := map[string]httpstream.Dialer{
			"spdy":                spdy.NewDialer(up, &http.Client{Transport: tr}, "POST", u),
			"websocket tunnelled": ws,
		}
		for name, d := range dialers {
			t.Run(name, func(t *testing.T) {
				local := forward(t, d, e.port)
				for i := range 5 {
					resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", local))
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != "hello from the pod\n" {
						t.Fatalf("request %d: %q", i, b)
					}
				}
			})
		}
	})

	t.Run("logs", func(t *testing.T) {
		logs := func(opts *corev1.PodLogOptions) string {
			b, err := e.cs.CoreV1().Pods("default").GetLogs("streamed", opts).DoRaw(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		testenv.Eventually(t, 10*time.Second, "three lines logged", func() bool {
			return strings.Count(logs(&corev1.PodLogOptions{Container: "talker"}), "\n") >= 3
		})
		if got := logs(&corev1.PodLogOptions{Container: "talker", TailLines: new(int64(2))}); strings.Count(got, "\n") != 2 {
			t.Errorf("tail 2: %q", got)
		}
		if got := logs(&corev1.PodLogOptions{Container: "talker", LimitBytes: new(int64(7))}); got != "line 1\n" {
			t.Errorf("limitBytes 7: %q", got)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		rc, err := e.cs.CoreV1().Pods("default").GetLogs("streamed", &corev1.PodLogOptions{Container: "talker", Follow: true, TailLines: new(int64(0))}).Stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		var prev int
		for range 3 {
			if !sc.Scan() {
				t.Fatalf("follow ended: %v", sc.Err())
			}
			var n int
			if _, err := fmt.Sscanf(sc.Text(), "line %d", &n); err != nil || (prev != 0 && n != prev+1) {
				t.Fatalf("followed %q after line %d", sc.Text(), prev)
			}
			prev = n
		}
	})
}

// forward forwards a free local port to the pod's port through d, as
// kubectl port-forward does, until the test ends.
func forward(t *testing.T, d httpstream.Dialer, port int) uint16 {
	t.Helper()
	stop, ready := make(chan struct{}), make(chan struct{})
	// Each forwarded connection writes from its own goroutine.
	errOut := &syncBuffer{}
	pf, err := portforward.NewOnAddresses(d, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, errOut)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pf.ForwardPorts() }()
	t.Cleanup(func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("port-forward: %v (%s)", err, errOut.String())
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward: %v (%s)", err, errOut.String())
	case <-time.After(20 * time.Second):
		t.Fatal("port-forward not ready after 20s")
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("ports %v, %v", ports, err)
	}
	return ports[0].Local
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sizeQueue hands out sizes, then waits until done.
type sizeQueue struct {
	mu    sync.Mutex
	sizes []remotecommand.TerminalSize
	done  chan struct{}
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	q.mu.Lock()
	if len(q.sizes) > 0 {
		s := q.sizes[0]
		q.sizes = q.sizes[1:]
		q.mu.Unlock()
		return &s
	}
	q.mu.Unlock()
	<-q.done
	return nil
}

// Package servertest runs a node server (nodeagent/server) for tests the
// way an agent does: it registers the test's Node (InternalIP 127.0.0.1,
// the server's port in daemonEndpoints) with the node's token, gets its
// serving certificate signed by the API server, and serves until the test
// ends. The pods are the test's: a Pods of its own (Static maps names to
// the sandboxes and containers the test made in a real containerd).
package servertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/shoalmesh/shoal/nodeagent/server"
)

// Options say what to serve.
type Options struct {
	// REST reaches the API server with the node's token.
	REST *rest.Config
	// Node is the node's name.
	Node    string
	Pods    server.Pods
	Runtime server.Streamer
}

// Server is a running node server.
type Server struct {
	*server.Server
	// Addr is where it listens (127.0.0.1:port).
	Addr string
	// Dir holds its key, certificate and CA.
	Dir string
}

// Start registers opts.Node and serves its node server until t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := Register(t.Context(), opts.REST, opts.Node, "127.0.0.1", port); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, err := server.LoadOrRequestCertificate(t.Context(), opts.REST, opts.Node, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, dir)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{NodeName: opts.Node, Pods: opts.Pods, Runtime: opts.Runtime, TLS: cert})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	heartbeats := make(chan struct{})
	go func() { defer close(heartbeats); heartbeat(ctx, opts.REST, opts.Node) }()
	t.Cleanup(func() {
		cancel()
		<-heartbeats
		if err := <-done; err != nil {
			t.Errorf("node server: %v", err)
		}
	})
	return &Server{Server: srv, Addr: ln.Addr().String(), Dir: dir}
}

// Register creates node's Node, or updates it, with address ip and the
// node server's port, as an agent's registration does.
func Register(ctx context.Context, rc *rest.Config, node, ip string, port int) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: node}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	created, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", node, err)
	}
	created.Status = n.Status
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("register node %s: %w", node, err)
	}
	return nil
}

// heartbeat renews node's Lease every few seconds until ctx ends, as an
// agent does, so that the node stays Ready and its pods are not evicted
// while a long test runs.
func heartbeat(ctx context.Context, rc *rest.Config, node string) {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return
	}
	leases := cs.CoordinationV1().Leases("kube-node-lease")
	for {
		now := metav1.NewMicroTime(time.Now())
		l, err := leases.Get(ctx, node, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: "kube-node-lease"},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &node, LeaseDurationSeconds: new(int32(40)), RenewTime: &now}}
			leases.Create(ctx, l, metav1.CreateOptions{})
		case err == nil:
			l.Spec.RenewTime = &now
			leases.Update(ctx, l, metav1.UpdateOptions{})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// Static is a Pods of fixed names: the sandboxes and containers a test
// made in a real runtime, and their CRI log files.
type Static struct {
	mu   sync.Mutex
	pods map[string]*StaticPod // by namespace/name
}

// StaticPod is one pod of a Static.
type StaticPod struct {
	Sandbox string
	// Containers maps container names to CRI container IDs; the first
	// added is the default.
	Containers map[string]string
	// Logs maps container names to their CRI log files.
	Logs  map[string]string
	order []string
}

// Add records a pod's sandbox.
func (s *Static) Add(namespace, pod, sandbox string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pods == nil {
		s.pods = map[string]*StaticPod{}
	}
	s.pods[namespace+"/"+pod] = &StaticPod{Sandbox: sandbox, Containers: map[string]string{}, Logs: map[string]string{}}
}

// AddContainer records a container of a pod added before, and its log file.
func (s *Static) AddContainer(namespace, pod, name, id, logPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pods[namespace+"/"+pod]
	p.Containers[name], p.Logs[name] = id, logPath
	p.order = append(p.order, name)
}

func (s *Static) pod(namespace, pod string) (*StaticPod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pods[namespace+"/"+pod]
	if !ok {
		return nil, fmt.Errorf("%w: pod %s/%s", server.ErrNotFound, namespace, pod)
	}
	return p, nil
}

// Container implements server.Pods.
func (s *Static) Container(namespace, pod, container string) (string, error) {
	p, err := s.pod(namespace, pod)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if container == "" && len(p.order) > 0 {
		container = p.order[0]
	}
	id, ok := p.Containers[container]
	if !ok {
		return "", fmt.Errorf("%w: container %q of pod %s/%s", server.ErrNotFound, container, namespace, pod)
	}
	return id, nil
}

// Sandbox implements server.Pods.
func (s *Static) Sandbox(namespace, pod string) (string, error) {
	p, err := s.pod(namespace, pod)
	if err != nil {
		return "", err
	}
	return p.Sandbox, nil
}

// Logs implements server.Pods with the CRI log file (a line is
// "<RFC3339Nano time> <stream> <P|F> <text>"): the text of each line,
// with tailLines, limitBytes and follow (polling the file); previous is
// not kept by a Static pod.
func (s *Static) Logs(ctx context.Context, namespace, pod, container string, opts server.LogOptions, w io.Writer) error {
	p, err := s.pod(namespace, pod)
	if err != nil {
		return err
	}
	s.mu.Lock()
	path, ok := p.Logs[container]
	s.mu.Unlock()
	if !ok || opts.Previous {
		return fmt.Errorf("%w: log of container %q of pod %s/%s", server.ErrNotFound, container, namespace, pod)
	}
	return followCRILog(ctx, path, opts, w)
}

// followCRILog writes the CRI log at path per opts.
func followCRILog(ctx context.Context, path string, opts server.LogOptions, w io.Writer) error {
	var written, offset int64
	var pending []byte
	first := true
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines := parseCRILines(b[offset:], &pending)
		offset = int64(len(b))
		if first && opts.TailLines != nil && int64(len(lines)) > *opts.TailLines {
			lines = lines[int64(len(lines))-*opts.TailLines:]
		}
		first = false
		for _, l := range lines {
			if opts.LimitBytes != nil && written+int64(len(l)) > *opts.LimitBytes {
				l = l[:*opts.LimitBytes-written]
			}
			n, err := w.Write(l)
			written += int64(n)
			if err != nil {
				return err
			}
			if opts.LimitBytes != nil && written >= *opts.LimitBytes {
				return nil
			}
		}
		if !opts.Follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// parseCRILines returns the texts (with "\n") of the complete lines in
// what pending held plus b, joining partial (P) entries; what does not end
// a line yet stays in pending.
func parseCRILines(b []byte, pending *[]byte) [][]byte {
	buf := append(*pending, b...)
	var out [][]byte
	var text []byte
	consumed, pos := 0, 0
	for {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			break
		}
		// <time> <stream> <P|F> <text>
		f := bytes.SplitN(buf[pos:pos+i], []byte(" "), 4)
		pos += i + 1
		if len(f) < 3 {
			continue
		}
		if len(f) == 4 {
			text = append(text, f[3]...)
		}
		if string(f[2]) == "F" {
			out = append(out, append(text, '\n'))
			text, consumed = nil, pos
		}
	}
	*pending = append([]byte(nil), buf[consumed:]...)
	return out
}

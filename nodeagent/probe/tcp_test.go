package probe_test

import (
	"context"
	"errors"
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/probe"
)

func TestTCPSocket(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := l.Addr().(*net.TCPAddr).Port
	closed := testenv.FreePort(t)
	ports := []corev1.ContainerPort{{Name: "db", ContainerPort: int32(open)}, {Name: "gone", ContainerPort: int32(closed)}}

	cases := []struct {
		name    string
		tcp     corev1.TCPSocketAction
		podIP   string
		want    probe.Result
		wantErr error
	}{
		{name: "open", tcp: corev1.TCPSocketAction{Port: intstr.FromInt32(int32(open))}, podIP: "127.0.0.1", want: probe.Success},
		{name: "closed", tcp: corev1.TCPSocketAction{Port: intstr.FromInt32(int32(closed))}, podIP: "127.0.0.1", want: probe.Failure},
		{name: "named open", tcp: corev1.TCPSocketAction{Port: intstr.FromString("db")}, podIP: "127.0.0.1", want: probe.Success},
		{name: "named closed", tcp: corev1.TCPSocketAction{Port: intstr.FromString("gone")}, podIP: "127.0.0.1", want: probe.Failure},
		{name: "unknown name", tcp: corev1.TCPSocketAction{Port: intstr.FromString("web")}, podIP: "127.0.0.1", want: probe.Unknown, wantErr: probe.ErrPortNotFound},
		{name: "host field", tcp: corev1.TCPSocketAction{Host: "127.0.0.1", Port: intstr.FromInt32(int32(open))}, want: probe.Success},
		{name: "no pod IP", tcp: corev1.TCPSocketAction{Port: intstr.FromInt32(int32(open))}, want: probe.Unknown, wantErr: probe.ErrNoPodIP},
	}
	pr := probe.NewProber("test")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := probe.Container{PodIP: tc.podIP, Spec: &corev1.Container{Name: "db", Ports: ports}}
			p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &tc.tcp}}
			got, out, err := pr.Probe(t.Context(), p, &c)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Probe = %v, %q, %v; want %v, %v", got, out, err, tc.want, tc.wantErr)
			}
		})
	}

	t.Run("cancelled is unknown", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		c := probe.Container{PodIP: "127.0.0.1", Spec: &corev1.Container{Name: "db"}}
		p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(open))}}}
		if got, _, err := pr.Probe(ctx, p, &c); got != probe.Unknown || !errors.Is(err, context.Canceled) {
			t.Fatalf("Probe = %v, %v; want unknown, context.Canceled", got, err)
		}
	})
}

package probe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/nodeagent/probe"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// newRealManager returns a Manager on the real clock where a probe's
// second lasts 20 ms.
func newRealManager(t *testing.T) *probe.Manager {
	t.Helper()
	m := probe.New(t.Context(), probe.Options{Version: "test", Second: 20 * time.Millisecond})
	t.Cleanup(m.Close)
	return m
}

// TestReadinessFollowsServer runs a readiness probe on real, short periods
// against a server that falls ill and recovers.
func TestReadinessFollowsServer(t *testing.T) {
	t.Parallel()
	var code atomic.Int32
	code.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Header.Get("User-Agent") != "shoal-probe/test" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	m := newRealManager(t)
	spec := corev1.Container{
		Name:  "web",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
			PeriodSeconds: 1, FailureThreshold: 2,
		},
	}
	if err := m.Add(container("pod-1", spec, nil)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		code int32
		want probe.Result
	}{
		{http.StatusOK, probe.Success},
		{http.StatusServiceUnavailable, probe.Failure},
		{http.StatusNoContent, probe.Success},
	}
	for _, s := range steps {
		code.Store(s.code)
		u := nextUpdate(t, m)
		if u.Kind != probe.Readiness || u.Result != s.want {
			t.Fatalf("after the server answers %d: update %+v, want readiness %v", s.code, u, s.want)
		}
		if got := m.Ready("pod-1", "web"); got != (s.want == probe.Success) {
			t.Fatalf("Ready = %v after a readiness %v", got, s.want)
		}
	}
}

// TestTimeoutFailsLiveness: a probe that hangs past timeoutSeconds fails,
// even through an Execer that ignores its context.
func TestTimeoutFailsLiveness(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var calls atomic.Int32
	ex := probe.ExecFunc(func(context.Context, []string) (int, []byte, error) {
		calls.Add(1)
		<-release
		return 0, nil, nil
	})
	m := newRealManager(t)
	spec := corev1.Container{Name: "app", LivenessProbe: execProbe("hang", func(p *corev1.Probe) {
		p.PeriodSeconds = 1
		p.TimeoutSeconds = 2
	})}
	if err := m.Add(container("pod-1", spec, ex)); err != nil {
		t.Fatal(err)
	}
	u := nextUpdate(t, m)
	if u.Kind != probe.Liveness || u.Result != probe.Failure || !strings.Contains(u.Output, "timed out") {
		t.Fatalf("update = %+v, want a liveness failure that timed out", u)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("probes = %d, want the failureThreshold of 3", n)
	}
}

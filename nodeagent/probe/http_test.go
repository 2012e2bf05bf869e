package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/probe"
)

// probeServer answers the paths the HTTP probe tests ask for.
func probeServer() http.Handler {
	mux := http.NewServeMux()
	for _, code := range []int{200, 201, 204, 302, 399, 400, 404, 500, 503} {
		mux.HandleFunc(fmt.Sprintf("/code/%d", code), func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			fmt.Fprintf(w, "answered %d", code)
		})
	}
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		// ?to= is where to; a relative target stays on the host.
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/hang", func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		// 200 only if the request carries what the probe should send.
		want := map[string]string{
			"User-Agent": r.URL.Query().Get("ua"),
			"X-Custom":   r.URL.Query().Get("custom"),
			"Accept":     r.URL.Query().Get("accept"),
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				http.Error(w, fmt.Sprintf("%s = %q, want %q", k, got, v), http.StatusBadRequest)
				return
			}
		}
		if h := r.URL.Query().Get("host"); h != "" && r.Host != h {
			http.Error(w, fmt.Sprintf("host = %q, want %q", r.Host, h), http.StatusBadRequest)
			return
		}
	})
	return mux
}

func TestHTTPGet(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(probeServer())
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewTLSServer(probeServer())
	t.Cleanup(tlsSrv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tlsPort := tlsSrv.Listener.Addr().(*net.TCPAddr).Port
	other := httptest.NewServer(probeServer()) // same host, other port
	t.Cleanup(other.Close)
	closed := testenv.FreePort(t)

	ports := []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}, {Name: "https", ContainerPort: int32(tlsPort)}}
	num := intstr.FromInt32(int32(port))
	q := url.QueryEscape

	cases := []struct {
		name    string
		get     corev1.HTTPGetAction
		podIP   string // default 127.0.0.1
		noPodIP bool
		timeout time.Duration // ctx deadline; 0 = none, the probe's timeoutSeconds (1) applies
		want    probe.Result
		wantErr error
		output  string // substring of the output
	}{
		{name: "200", get: corev1.HTTPGetAction{Path: "/code/200", Port: num}, want: probe.Success},
		{name: "201", get: corev1.HTTPGetAction{Path: "/code/201", Port: num}, want: probe.Success},
		{name: "204", get: corev1.HTTPGetAction{Path: "/code/204", Port: num}, want: probe.Success},
		{name: "399", get: corev1.HTTPGetAction{Path: "/code/399", Port: num}, want: probe.Success},
		{name: "400", get: corev1.HTTPGetAction{Path: "/code/400", Port: num}, want: probe.Failure, output: "statuscode: 400"},
		{name: "404", get: corev1.HTTPGetAction{Path: "/code/404", Port: num}, want: probe.Failure, output: "statuscode: 404"},
		{name: "500 with body", get: corev1.HTTPGetAction{Path: "/code/500", Port: num}, want: probe.Failure, output: "statuscode: 500, body: answered 500"},
		{name: "503", get: corev1.HTTPGetAction{Path: "/code/503", Port: num}, want: probe.Failure},
		{name: "path defaults to /", get: corev1.HTTPGetAction{Port: num}, want: probe.Failure, output: "404"},
		{name: "path with query", get: corev1.HTTPGetAction{Path: "/redirect?to=/code/503", Port: num}, want: probe.Failure, output: "503"},

		{name: "same-host redirect is followed to success", get: corev1.HTTPGetAction{Path: "/redirect?to=" + q("/code/200"), Port: num}, want: probe.Success},
		{name: "same-host redirect is followed to failure", get: corev1.HTTPGetAction{Path: "/redirect?to=" + q("/code/500"), Port: num}, want: probe.Failure, output: "500"},
		{name: "same host other port is followed", get: corev1.HTTPGetAction{Path: "/redirect?to=" + q(other.URL+"/code/503"), Port: num}, want: probe.Failure, output: "503"},
		{name: "other-host redirect is not followed, counts as success", get: corev1.HTTPGetAction{Path: "/redirect?to=" + q("http://elsewhere.invalid/code/500"), Port: num}, want: probe.Success, output: "terminated redirects"},
		{name: "redirect loop fails", get: corev1.HTTPGetAction{Path: "/loop", Port: num}, want: probe.Failure, output: "stopped after 10 redirects"},

		{name: "headers: defaults", get: corev1.HTTPGetAction{Path: "/headers?ua=shoal-probe/test&accept=" + q("*/*"), Port: num}, want: probe.Success},
		{name: "headers: set", get: corev1.HTTPGetAction{
			Path: "/headers?ua=mine&custom=yes&accept=text/plain&host=example.com", Port: num,
			HTTPHeaders: []corev1.HTTPHeader{{Name: "user-agent", Value: "mine"}, {Name: "X-Custom", Value: "yes"}, {Name: "Accept", Value: "text/plain"}, {Name: "Host", Value: "example.com"}},
		}, want: probe.Success},
		{name: "headers: empty Accept removes it", get: corev1.HTTPGetAction{
			Path: "/headers?ua=shoal-probe/test", Port: num, HTTPHeaders: []corev1.HTTPHeader{{Name: "Accept", Value: ""}},
		}, want: probe.Success},

		{name: "named port", get: corev1.HTTPGetAction{Path: "/code/200", Port: intstr.FromString("http")}, want: probe.Success},
		{name: "number as string", get: corev1.HTTPGetAction{Path: "/code/200", Port: intstr.FromString(strconv.Itoa(port))}, want: probe.Success},
		{name: "unknown port name", get: corev1.HTTPGetAction{Path: "/code/200", Port: intstr.FromString("metrics")}, want: probe.Unknown, wantErr: probe.ErrPortNotFound},
		{name: "port 0", get: corev1.HTTPGetAction{Path: "/code/200", Port: intstr.FromInt32(0)}, want: probe.Unknown, wantErr: probe.ErrInvalidPort},
		{name: "port 70000", get: corev1.HTTPGetAction{Path: "/code/200", Port: intstr.FromInt32(70000)}, want: probe.Unknown, wantErr: probe.ErrInvalidPort},
		{name: "bad scheme", get: corev1.HTTPGetAction{Scheme: "FTP", Port: num}, want: probe.Unknown, wantErr: probe.ErrInvalidScheme},

		{name: "https without verification", get: corev1.HTTPGetAction{Scheme: corev1.URISchemeHTTPS, Path: "/code/200", Port: intstr.FromString("https")}, want: probe.Success},
		{name: "https failure code", get: corev1.HTTPGetAction{Scheme: corev1.URISchemeHTTPS, Path: "/code/503", Port: intstr.FromInt32(int32(tlsPort))}, want: probe.Failure},
		{name: "https to a plain server fails", get: corev1.HTTPGetAction{Scheme: corev1.URISchemeHTTPS, Path: "/code/200", Port: num}, want: probe.Failure},

		{name: "host field instead of pod IP", get: corev1.HTTPGetAction{Host: "127.0.0.1", Path: "/code/200", Port: num}, noPodIP: true, want: probe.Success},
		{name: "no host and no pod IP", get: corev1.HTTPGetAction{Path: "/code/200", Port: num}, noPodIP: true, want: probe.Unknown, wantErr: probe.ErrNoPodIP},
		{name: "connection refused", get: corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(closed))}, want: probe.Failure, output: "refused"},
		{name: "hang past the deadline", get: corev1.HTTPGetAction{Path: "/hang", Port: num}, timeout: 200 * time.Millisecond, want: probe.Failure, output: "deadline exceeded"},
		{name: "hang past timeoutSeconds", get: corev1.HTTPGetAction{Path: "/hang", Port: num}, want: probe.Failure, output: "deadline exceeded"},
	}
	pr := probe.NewProber("test")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := probe.Container{PodIP: "127.0.0.1", Spec: &corev1.Container{Name: "web", Ports: ports}}
			if tc.noPodIP {
				c.PodIP = ""
			}
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &tc.get}}
			got, out, err := pr.Probe(ctx, p, &c)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Probe = %v, %q, %v; want %v, %v", got, out, err, tc.want, tc.wantErr)
			}
			if !strings.Contains(out, tc.output) {
				t.Errorf("output %q does not contain %q", out, tc.output)
			}
		})
	}
}

func TestProbeWithoutHandler(t *testing.T) {
	t.Parallel()
	got, _, err := probe.NewProber("").Probe(t.Context(), &corev1.Probe{}, &probe.Container{})
	if got != probe.Unknown || !errors.Is(err, probe.ErrNoHandler) {
		t.Fatalf("Probe = %v, %v; want unknown, ErrNoHandler", got, err)
	}
}

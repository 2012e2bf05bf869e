package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Kubernetes' defaults for a probe's unset fields (k8s.io/api/core/v1 Probe).
const (
	DefaultTimeoutSeconds   = 1
	DefaultPeriodSeconds    = 10
	DefaultSuccessThreshold = 1
	DefaultFailureThreshold = 3
)

// maxOutput caps the output kept from a probe, as kubelet's 10 KiB does.
const maxOutput = 10 << 10

// Prober runs one probe once. The Manager runs it on a timer; it is
// exported for callers that want a single check.
type Prober struct {
	userAgent string
	http      *http.Client
	dial      DialFunc
}

// DialFunc opens the connections of httpGet, tcpSocket and grpc probes, as
// net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// NewProber returns a Prober whose HTTP and gRPC requests carry the
// User-Agent shoal-probe/version, and that dials with DialContext.
func NewProber(version string) *Prober { return newProber(version, nil) }

// NewProberDial is NewProber dialling with dial (from a node's network
// namespace, say); nil is DialContext.
func NewProberDial(version string, dial DialFunc) *Prober { return newProber(version, dial) }

func newProber(version string, dial DialFunc) *Prober {
	if version == "" {
		version = "dev"
	}
	if dial == nil {
		dial = DialContext
	}
	tr := &http.Transport{
		// Probes go to pods directly, never through the agent's proxy.
		Proxy: nil,
		// kubelet does not verify a pod's certificate: it could not know
		// which names or CA to trust.
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives:  true,
		DisableCompression: true,
		DialContext:        dial,
	}
	return &Prober{
		userAgent: "shoal-probe/" + version,
		http:      &http.Client{Transport: tr, CheckRedirect: sameHostRedirects},
		dial:      dial,
	}
}

// Probe runs p against c once. The result is Success or Failure, with a
// message; or Unknown with an error when the probe could not be run (no
// handler, a named port the container does not have, no pod IP, an Execer
// error, ctx cancelled), which kubelet throws away instead of counting.
// The probe's timeoutSeconds applies unless ctx has an earlier deadline;
// running out of time is a Failure.
func (pr *Prober) Probe(ctx context.Context, p *corev1.Probe, c *Container) (Result, string, error) {
	if p == nil {
		return Unknown, "", ErrNoHandler
	}
	if c == nil {
		c = &Container{}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, seconds(p.TimeoutSeconds, DefaultTimeoutSeconds, time.Second))
		defer cancel()
	}
	var spec corev1.Container
	if c.Spec != nil {
		spec = *c.Spec
	}
	switch {
	case p.Exec != nil:
		return pr.exec(ctx, p.Exec, c.Exec, &spec)
	case p.HTTPGet != nil:
		return pr.httpGet(ctx, p.HTTPGet, c.PodIP, &spec)
	case p.TCPSocket != nil:
		return pr.tcpSocket(ctx, p.TCPSocket, c.PodIP, &spec)
	case p.GRPC != nil:
		return pr.grpc(ctx, p.GRPC, c.PodIP)
	}
	return Unknown, "", ErrNoHandler
}

// failed turns a handler's error into a result: cancellation means the
// probe was stopped, not that the container is unhealthy; anything else
// (refused, reset, timed out) is a Failure.
func failed(ctx context.Context, err error) (Result, string, error) {
	if errors.Is(ctx.Err(), context.Canceled) {
		return Unknown, "", ctx.Err()
	}
	return Failure, err.Error(), nil
}

// resolvePort finds a probe's port: a number, or the name of one of the
// container's ports (or, as kubelet allows, a number written as a string).
func resolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	n := int(port.IntVal)
	if port.Type == intstr.String {
		found := false
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				n, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			var err error
			if n, err = strconv.Atoi(port.StrVal); err != nil {
				return 0, fmt.Errorf("resolve port %q of container %q: %w", port.StrVal, c.Name, ErrPortNotFound)
			}
		}
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d: %w", n, ErrInvalidPort)
	}
	return n, nil
}

func hostOr(host, podIP string) (string, error) {
	if host != "" {
		return host, nil
	}
	if podIP == "" {
		return "", ErrNoPodIP
	}
	return podIP, nil
}

// seconds turns one of a probe's *Seconds fields into a duration, with
// def for an unset (or invalid) value and unit as the length of a second.
func seconds(v, def int32, unit time.Duration) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * unit
}

// DialContext is how probes connect unless Options.Dial says otherwise: a
// plain dial, in the network namespace of the calling thread, with
// SO_LINGER at 1 s as kubelet sets it, so that thousands of probes do not
// leave as many sockets in TIME_WAIT. Happy Eyeballs is off: every
// address is tried in turn on the calling goroutine, so a caller that runs
// it on a thread inside another namespace gets sockets of that namespace.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return dialer.DialContext(ctx, network, address)
}

var dialer = &net.Dialer{
	FallbackDelay: -1,
	Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 1})
		})
	},
}

func truncate(b []byte) string {
	if len(b) > maxOutput {
		b = b[:maxOutput]
	}
	return string(b)
}

package l7

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoalmesh/shoal/proxy/balancer"
)

// transport is the Proxy as the ReverseProxy's RoundTripper: it picks an
// endpoint per request and retries on others what no endpoint can have
// acted on.
type transport Proxy

// RoundTrip sends req to an endpoint of the cluster. The endpoint stays
// active (Host.Begin) until the response body is closed.
//
// A failed attempt is retried on another endpoint, excluding those that
// failed, while the retries last and no attempt has read from the request
// body, when either nothing was sent (the connect failed, or an HTTP/2
// connection closed before the request's stream opened) or the request
// is idempotent and its connection was reset or closed before the
// response headers: Envoy's retry_on "connect-failure" and "reset", as
// when a pod dies with requests in flight during a rolling update.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := (*Proxy)(t)
	rt := p.h1
	if req.ProtoMajor == 2 {
		rt = p.h2c
	}
	var body *retryBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &retryBody{rc: req.Body}
	}
	var failedBuf [4]netip.AddrPort
	failed := failedBuf[:0]
	exclude := func(a netip.AddrPort) bool { return slices.Contains(failed, a) }
	var lastErr error
	for attempt := range uint64(p.opts.Retries) + 1 {
		h, ok := p.cluster.Pick(exclude)
		if !ok {
			break
		}
		if attempt > 0 {
			p.m.retries.Inc()
		}
		h.Begin()
		out := req.WithContext(req.Context()) // shallow copy per attempt
		u := *req.URL
		u.Host = h.Addr().String()
		out.URL = &u
		if body != nil {
			out.Body = attemptBody{b: body, n: attempt}
		}
		sent := time.Now()
		res, err := rt.RoundTrip(out)
		if err == nil {
			// Time to the response headers: what a least-request pick
			// weighs this host's active requests by.
			h.Observe(time.Since(sent))
			switch res.StatusCode {
			case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
				h.Report(false)
			default:
				h.Report(true)
			}
			res.Body = endOnClose(res.Body, h)
			return res, nil
		}
		h.End()
		if req.Context().Err() != nil {
			// The client left or Shutdown aborted: the endpoint is not at fault.
			return nil, err
		}
		h.Report(false)
		switch {
		case neverSent(err):
			p.m.errConnect.Inc()
			p.log.Debug("connect failed", "endpoint", h.Addr().String(), "err", err)
		case isReset(err):
			p.m.errReset.Inc()
			if !idempotent(req) {
				return nil, err
			}
			p.log.Debug("connection reset before the response", "endpoint", h.Addr().String(),
				"method", req.Method, "err", err)
		default:
			p.m.errOther.Inc()
			return nil, err
		}
		if body != nil && !body.handOver(attempt) {
			return nil, err // the body is (partly) gone: never resend it
		}
		failed = append(failed, h.Addr())
		lastErr = err
	}
	if lastErr == nil {
		p.m.errNoEndpoint.Inc()
		return nil, ErrNoEndpoint
	}
	return nil, fmt.Errorf("%d attempts: %w", len(failed), lastErr)
}

// h2NotEstablished is the message of net/http's unexported
// http2errClientConnNotEstablished: an HTTP/2 connection closed before its
// first stream opened, so the request was not sent.
const h2NotEstablished = "http2: client conn could not be established"

// neverSent reports whether err means the request never reached the
// endpoint, so any request may go to another one.
func neverSent(err error) bool {
	var de *dialError
	return errors.As(err, &de) || strings.HasSuffix(err.Error(), h2NotEstablished)
}

// idempotent reports whether req may be sent again after an endpoint may
// have seen it. As net/http's Transport decides for its own retries: the
// safe methods, and requests carrying an Idempotency-Key. PUT and DELETE
// are idempotent by RFC 9110 but not retried: a DELETE replayed after it
// took effect answers 404, and a PUT's body has been sent.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// isReset reports whether err means the endpoint's connection was reset or
// closed: a peer that died (SIGKILL, a node gone) or shut down with
// requests in flight. Not a timeout, a malformed response or a status.
func isReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// errBodyHandedOver fails the reads of an attempt whose request body went
// to the next attempt.
var errBodyHandedOver = errors.New("request body handed to another attempt")

// retryBody is a request body that may go to the next attempt as long as
// no attempt has read from it.
type retryBody struct {
	rc io.ReadCloser
	// state is the number of the attempt that owns the body, shifted left
	// one, its low bit set once that attempt read from it. A transport
	// may still touch an attempt's body after its RoundTrip returned (the
	// HTTP/2 one closes it from another goroutine); ownership keeps such
	// a late Read or Close off the next attempt's body.
	state atomic.Uint64
}

// handOver gives the body from attempt n to attempt n+1. It reports false
// when attempt n has read from it.
func (b *retryBody) handOver(n uint64) bool {
	return b.state.CompareAndSwap(n<<1, (n+1)<<1)
}

// attemptBody is attempt n's view of a retryBody. The transport closes
// the body even when the connect fails; that Close is ignored until the
// attempt has read, so the next attempt still has the body. Once reading
// started, Close goes through (it unblocks a pending Read). The server
// closes the client's body when the handler returns in any case.
type attemptBody struct {
	b *retryBody
	n uint64
}

func (a attemptBody) Read(p []byte) (int, error) {
	for {
		s := a.b.state.Load()
		if s>>1 != a.n {
			return 0, errBodyHandedOver
		}
		if s&1 == 1 || a.b.state.CompareAndSwap(s, s|1) {
			break
		}
	}
	return a.b.rc.Read(p)
}

func (a attemptBody) Close() error {
	if a.b.state.Load() != a.n<<1|1 {
		return nil
	}
	return a.b.rc.Close()
}

// endBody ends its host's request when the response body is closed.
type endBody struct {
	io.ReadCloser
	h    *balancer.Host
	done atomic.Bool
}

func (b *endBody) Close() error {
	err := b.ReadCloser.Close()
	if b.done.CompareAndSwap(false, true) {
		b.h.End()
	}
	return err
}

// upgradeBody is an endBody of a 101 Switching Protocols response, whose
// body the ReverseProxy writes to as well.
type upgradeBody struct {
	*endBody
	w io.Writer
}

func (b upgradeBody) Write(p []byte) (int, error) { return b.w.Write(p) }

func endOnClose(body io.ReadCloser, h *balancer.Host) io.ReadCloser {
	eb := &endBody{ReadCloser: body, h: h}
	if rw, ok := body.(io.ReadWriteCloser); ok {
		return upgradeBody{endBody: eb, w: rw}
	}
	return eb
}

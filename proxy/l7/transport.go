package l7

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/shoalmesh/shoal/proxy/balancer"
)

// transport is the Proxy as the ReverseProxy's RoundTripper: it picks an
// endpoint per request and retries failed connects on others.
type transport Proxy

// RoundTrip sends req to an endpoint of the cluster. The endpoint stays
// active (Host.Begin) until the response body is closed.
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
	for range p.opts.Retries + 1 {
		h, ok := p.cluster.Pick(exclude)
		if !ok {
			break
		}
		h.Begin()
		out := req.WithContext(req.Context()) // shallow copy per attempt
		u := *req.URL
		u.Host = h.Addr().String()
		out.URL = &u
		if body != nil {
			out.Body = attemptBody{body}
		}
		res, err := rt.RoundTrip(out)
		if err == nil {
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
		var de *dialError
		if !errors.As(err, &de) {
			return nil, err
		}
		p.log.Debug("connect failed", "endpoint", h.Addr().String(), "err", err)
		failed = append(failed, h.Addr())
		lastErr = err
		if body != nil && body.started.Load() {
			break // cannot happen after a failed connect, but never resend a body
		}
	}
	if lastErr == nil {
		return nil, ErrNoEndpoint
	}
	return nil, fmt.Errorf("connect after %d attempts: %w", len(failed), lastErr)
}

// retryBody is a request body that may go to a second endpoint as long as
// no attempt has read from it.
type retryBody struct {
	rc      io.ReadCloser
	started atomic.Bool
}

// attemptBody is one attempt's view of a retryBody. The transport closes
// the body even when the connect fails; that Close is ignored until the
// body has been read, so the next attempt still has it. Once reading
// started, Close goes through (it unblocks a pending Read). The server
// closes the client's body when the handler returns in any case.
type attemptBody struct{ b *retryBody }

func (a attemptBody) Read(p []byte) (int, error) {
	a.b.started.Store(true)
	return a.b.rc.Read(p)
}

func (a attemptBody) Close() error {
	if !a.b.started.Load() {
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

package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// maxRedirects is where Go's client (and so kubelet) gives up.
const maxRedirects = 10

// sameHostRedirects follows a redirect only to the host the probe asked
// (any port), as kubelet does: a probe must not be sent off the pod. A
// redirect elsewhere ends the probe with the 3xx response, which counts as
// a success.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

func (pr *Prober) httpGet(ctx context.Context, g *corev1.HTTPGetAction, podIP string, c *corev1.Container) (Result, string, error) {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return Unknown, "", err
	}
	host, err := hostOr(g.Host, podIP)
	if err != nil {
		return Unknown, "", err
	}
	scheme := strings.ToLower(string(g.Scheme))
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		return Unknown, "", fmt.Errorf("scheme %q: %w", g.Scheme, ErrInvalidScheme)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, probeURL(scheme, host, port, g.Path), nil)
	if err != nil {
		return Unknown, "", fmt.Errorf("http probe request: %w", err)
	}
	req.Header = pr.headers(g.HTTPHeaders)
	req.Host = req.Header.Get("Host")

	resp, err := pr.http.Do(req)
	if err != nil {
		return failed(ctx, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	switch code := resp.StatusCode; {
	case code >= http.StatusOK && code < http.StatusMultipleChoices:
		return Success, "", nil
	case code >= http.StatusMultipleChoices && code < http.StatusBadRequest:
		// Only a redirect kubelet would not follow gets here.
		return Success, fmt.Sprintf("probe terminated redirects to %s, response code %d", resp.Header.Get("Location"), code), nil
	default:
		msg := fmt.Sprintf("HTTP probe failed with statuscode: %d", code)
		if len(body) > 0 {
			msg += ", body: " + string(body)
		}
		return Failure, msg, nil
	}
}

// headers builds a probe's request headers as kubelet does: the probe's
// own, then a User-Agent and Accept: */* unless it set them; an Accept set
// to "" removes the header.
func (pr *Prober) headers(hs []corev1.HTTPHeader) http.Header {
	h := make(http.Header, len(hs)+2)
	for _, kv := range hs {
		h.Add(kv.Name, kv.Value)
	}
	if _, ok := h["User-Agent"]; !ok {
		h.Set("User-Agent", pr.userAgent)
	}
	if _, ok := h["Accept"]; !ok {
		h.Set("Accept", "*/*")
	} else if h.Get("Accept") == "" {
		h.Del("Accept")
	}
	return h
}

// probeURL is kubelet's formatURL: the path may carry a query.
func probeURL(scheme, host string, port int, path string) string {
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	return u.String()
}

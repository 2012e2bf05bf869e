package server

import (
	"bufio"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/shoalmesh/shoal/api"
)

// authorized serves h only to the API server: a client certificate of the
// cluster CA (401 otherwise) with the API server's subject (403
// otherwise). It also counts the request under kind.
func (s *Server) authorized(kind string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() { s.metrics.requests.WithLabelValues(kind, codeClass(rw.code)).Inc() }()
		code, why := s.checkClient(r)
		if code != 0 {
			s.log.Debug("refused", "path", r.URL.Path, "code", code, "reason", why)
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Mutual-TLS realm="shoal-nodeagent"`)
			}
			http.Error(rw, http.StatusText(code)+": "+why, code)
			return
		}
		h(rw, r)
	})
}

// checkClient returns 0, or the status and reason to refuse r with.
func (s *Server) checkClient(r *http.Request) (int, string) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return http.StatusUnauthorized, "a client certificate of the cluster CA is required"
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         s.cfg.TLS.ClientCA,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return http.StatusUnauthorized, "the client certificate is not a client certificate of the cluster CA"
	}
	if leaf.Subject.CommonName != api.AgentClientCommonName || !slices.Contains(leaf.Subject.Organization, api.AgentClientOrganization) {
		return http.StatusForbidden, fmt.Sprintf("%q is not the API server: only %s/%s may exec, attach, port-forward and read logs here",
			leaf.Subject.CommonName, api.AgentClientOrganization, api.AgentClientCommonName)
	}
	return 0, ""
}

// codeWriter records the status code and keeps Flush and Hijack, which
// logs -f and upgraded streams need.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *codeWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// Hijack hands the connection to an upgraded stream (exec, attach,
// port-forward), counted as 101.
func (w *codeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.code = http.StatusSwitchingProtocols
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

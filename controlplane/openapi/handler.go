package openapi

import (
	"fmt"
	"net/http"

	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
)

// Handler serves /openapi/v2 and /openapi/v3 with kube-openapi's
// handlers, kube-apiserver's: JSON or protobuf as the client asks (kubectl
// asks v2 for application/com.github.proto-openapi.spec.v2@v1.0+protobuf
// and is answered with the same type spelled without the "@", which Go's
// mime parser refuses), ETags, and v3 documents addressed by a hash of
// their content (/openapi/v3/apis/apps/v1?hash=...) served with
// "Cache-Control: public, immutable", a stale hash redirected to the
// current one.
func Handler(s *Specs) (http.Handler, error) {
	mux := http.NewServeMux()
	handler.NewOpenAPIService(s.V2).RegisterOpenAPIVersionedService("/openapi/v2", mux)
	v3 := handler3.NewOpenAPIService()
	for path, doc := range s.V3 {
		v3.UpdateGroupVersion(path, doc)
	}
	if err := v3.RegisterOpenAPIV3VersionedService("/openapi/v3", prefixMux{mux}); err != nil {
		return nil, fmt.Errorf("openapi: register v3: %w", err)
	}
	return mux, nil
}

// prefixMux is a ServeMux as handler3 wants one: HandlePrefix serves a
// path and everything under it.
type prefixMux struct{ *http.ServeMux }

func (m prefixMux) HandlePrefix(path string, h http.Handler) { m.Handle(path, h) }

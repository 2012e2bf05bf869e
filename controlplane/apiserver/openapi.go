package apiserver

import (
	"fmt"
	"net/http"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/shoalmesh/shoal/controlplane/openapi"
	"github.com/shoalmesh/shoal/controlplane/registry"
)

// schemas are the OpenAPI documents of the served resources and what
// server-side apply is built on, made once per process: they depend on
// nothing but the Go types (package openapi).
type schemas struct {
	handler   http.Handler
	converter managedfields.TypeConverter
}

var sharedSchemas = sync.OnceValues(func() (*schemas, error) {
	specs, err := registry.Schemas()
	if err != nil {
		return nil, err
	}
	h, err := openapi.Handler(specs)
	if err != nil {
		return nil, err
	}
	tc, err := specs.TypeConverter()
	if err != nil {
		return nil, err
	}
	return &schemas{handler: h, converter: tc}, nil
})

// serveOpenAPI answers /openapi/v2 and /openapi/v3, which `kubectl explain`,
// kubectl's client-side validation and its apply read.
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	sc, err := sharedSchemas()
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("openapi: %w", err)))
		return
	}
	sc.handler.ServeHTTP(w, r)
}

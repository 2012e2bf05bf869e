package xdsclient

import (
	"fmt"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// validator is what every generated xDS message has.
type validator interface {
	proto.Message
	Validate() error
}

// unpack decodes one resource of a response into a fresh message of type
// T (never aliasing the response), unwrapping a discovery Resource wrapper,
// and runs the proto's own Validate.
func unpack[T validator](t Type, a *anypb.Any, newT func() T) (T, error) {
	m := newT()
	if a.GetTypeUrl() == resourceWrapperURL {
		w := &discoveryv3.Resource{}
		if err := a.UnmarshalTo(w); err != nil {
			return m, fmt.Errorf("%s: decode resource wrapper: %w", t, err)
		}
		a = w.GetResource()
	}
	if a.GetTypeUrl() != t.URL() {
		return m, fmt.Errorf("%s: %w %q", t, errUnexpectedType, a.GetTypeUrl())
	}
	if err := a.UnmarshalTo(m); err != nil {
		return m, fmt.Errorf("%s: decode: %w", t, err)
	}
	return m, nil
}

const resourceWrapperURL = "type.googleapis.com/envoy.service.discovery.v3.Resource"

// checkProto runs Validate on a decoded resource and names it on failure.
func checkProto(t Type, name string, m validator) error {
	if err := m.Validate(); err != nil {
		return resErr(t, name, fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	return nil
}

package translate

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// typed packs m into an Any with deterministic marshalling, so the same input
// always gives byte-identical resources (and so no spurious xDS versions).
func typed(m proto.Message) *anypb.Any {
	a := new(anypb.Any)
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		// Only a malformed generated message can fail to marshal: a bug here.
		panic(fmt.Sprintf("translate: marshal %T: %v", m, err))
	}
	return a
}

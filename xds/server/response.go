package server

import (
	"context"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// sotwResponse is one watch's response. Its resources are shared with
// every other response carrying them; the server sets the nonce on out,
// which is this response's own.
type sotwResponse struct {
	req      *cache.Request
	out      discoveryv3.DiscoveryResponse
	returned map[string]string
}

var _ cache.Response = (*sotwResponse)(nil)

func (r *sotwResponse) GetDiscoveryResponse() (*discoveryv3.DiscoveryResponse, error) {
	return &r.out, nil
}
func (r *sotwResponse) GetRequest() *discoveryv3.DiscoveryRequest { return r.req }
func (r *sotwResponse) GetVersion() (string, error)               { return r.out.VersionInfo, nil }
func (r *sotwResponse) GetResponseVersion() string                { return r.out.VersionInfo }
func (r *sotwResponse) GetReturnedResources() map[string]string   { return r.returned }
func (r *sotwResponse) GetContext() context.Context               { return context.Background() }

// deltaResponse is sotwResponse for the incremental protocol.
type deltaResponse struct {
	req      *cache.DeltaRequest
	out      discoveryv3.DeltaDiscoveryResponse
	returned map[string]string
}

var _ cache.DeltaResponse = (*deltaResponse)(nil)

func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	return &r.out, nil
}
func (r *deltaResponse) GetDeltaRequest() *discoveryv3.DeltaDiscoveryRequest { return r.req }
func (r *deltaResponse) GetSystemVersion() (string, error)                   { return r.out.SystemVersionInfo, nil }
func (r *deltaResponse) GetResponseVersion() string                          { return r.out.SystemVersionInfo }
func (r *deltaResponse) GetNextVersionMap() map[string]string                { return r.returned }
func (r *deltaResponse) GetReturnedResources() map[string]string             { return r.returned }
func (r *deltaResponse) GetContext() context.Context                         { return context.Background() }

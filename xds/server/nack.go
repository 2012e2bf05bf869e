package server

import (
	"context"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// nackedVersion stands in for the version a client sends when it NACKs the
// first response it ever got (it has no accepted version, so it sends "").
const nackedVersion = "nacked"

// parking keeps a NACK from being answered with the same resources again.
//
// The server records, per stream and type, the resource versions it sent,
// and LinearCache answers only when those differ from the cache — so a NACK
// (which does not change what was sent) waits for the next change. The one
// exception is a NACK with an empty version_info: LinearCache reads that as
// a client without state and re-sends everything, which the client NACKs
// again, in a tight loop. parking turns that version into a non-empty one so
// the watch waits like any other.
type parking struct{ cache.Cache }

func (p parking) CreateWatch(req *cache.Request, sub cache.Subscription, out chan cache.Response) (func(), error) {
	if req.GetErrorDetail() != nil && req.GetVersionInfo() == "" {
		req = proto.Clone(req).(*cache.Request)
		req.VersionInfo = nackedVersion
	}
	return p.Cache.CreateWatch(req, sub, out)
}

func (p parking) Fetch(ctx context.Context, req *cache.Request) (cache.Response, error) {
	return p.Cache.Fetch(ctx, req)
}

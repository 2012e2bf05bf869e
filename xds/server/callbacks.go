package server

import (
	"context"
	"log/slog"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrEmptyNodeID closes a stream whose client did not say who it is.
var errEmptyNodeID = status.Error(codes.InvalidArgument,
	"xds: node.id is empty: set node.id in the client's bootstrap (it names the client in Shoal's logs and metrics)")

// callbacks checks requests, logs NACKs once and keeps the metrics.
type callbacks struct {
	log *slog.Logger

	mu sync.Mutex
	// nacked remembers the last NACKed nonce per stream and type, so a
	// client repeating a NACK (on reconnect of a watch) is logged once.
	nacked map[streamType]string
	// deltaNodes is each delta stream's node id: the delta server calls back
	// before it copies the first request's node into later ones.
	deltaNodes map[int64]string
}

type streamType struct {
	stream  int64
	typeURL string
}

var _ serverv3.Callbacks = (*callbacks)(nil)

func newCallbacks(log *slog.Logger) *callbacks {
	return &callbacks{log: log, nacked: map[streamType]string{}, deltaNodes: map[int64]string{}}
}

func (c *callbacks) OnStreamOpen(context.Context, int64, string) error {
	streamsGauge.WithLabelValues("sotw").Inc()
	return nil
}

func (c *callbacks) OnStreamClosed(id int64, _ *corev3.Node) {
	streamsGauge.WithLabelValues("sotw").Dec()
	c.forget(id)
}

func (c *callbacks) OnDeltaStreamOpen(context.Context, int64, string) error {
	streamsGauge.WithLabelValues("delta").Inc()
	return nil
}

func (c *callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) {
	streamsGauge.WithLabelValues("delta").Dec()
	c.forget(id)
}

func (c *callbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	if err := c.check(req.GetNode()); err != nil {
		return err
	}
	if d := req.GetErrorDetail(); d != nil {
		c.nack(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), d.GetMessage(), req.GetVersionInfo())
	}
	return nil
}

func (c *callbacks) OnStreamResponse(_ context.Context, _ int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	responseCounter(resp.GetTypeUrl()).Inc()
}

func (c *callbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	node := req.GetNode()
	c.mu.Lock()
	if node.GetId() != "" {
		c.deltaNodes[id] = node.GetId()
	} else if known, ok := c.deltaNodes[id]; ok {
		node = &corev3.Node{Id: known}
	}
	c.mu.Unlock()
	if err := c.check(node); err != nil {
		return err
	}
	if d := req.GetErrorDetail(); d != nil {
		c.nack(id, node, req.GetTypeUrl(), req.GetResponseNonce(), d.GetMessage(), "")
	}
	return nil
}

func (c *callbacks) OnStreamDeltaResponse(_ int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	responseCounter(resp.GetTypeUrl()).Inc()
}

func (c *callbacks) OnFetchRequest(_ context.Context, req *discoveryv3.DiscoveryRequest) error {
	return c.check(req.GetNode())
}

func (c *callbacks) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}

// check rejects a request without a node id. The server copies the node of
// a stream's first request into later ones, so this sees it on every one.
func (c *callbacks) check(node *corev3.Node) error {
	if node.GetId() == "" {
		rejectedTotal.WithLabelValues("empty_node_id").Inc()
		return errEmptyNodeID
	}
	return nil
}

func (c *callbacks) nack(id int64, node *corev3.Node, typeURL, nonce, msg, version string) {
	k := streamType{id, typeURL}
	c.mu.Lock()
	seen := c.nacked[k] == nonce
	c.nacked[k] = nonce
	c.mu.Unlock()
	if seen {
		return
	}
	nacksTotal.WithLabelValues(typeLabel(typeURL)).Inc()
	c.log.Warn("client rejected configuration; it keeps its last accepted one",
		"node", node.GetId(), "type", typeURL, "accepted_version", version, "nonce", nonce, "reason", msg)
}

func (c *callbacks) forget(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.deltaNodes, id)
	for k := range c.nacked {
		if k.stream == id {
			delete(c.nacked, k)
		}
	}
}

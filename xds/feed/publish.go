package feed

import (
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"

	"github.com/shoalmesh/shoal/xds/server"
	"github.com/shoalmesh/shoal/xds/translate"
)

// change is one round's resource changes, by kind.
type change struct {
	set [server.Endpoints + 1]map[string]types.Resource
	del [server.Endpoints + 1][]string
}

// publish translates the dirty services and sends what changed.
func (f *Feed) publish() {
	if len(f.dirty) == 0 {
		return
	}
	start := time.Now()
	var ch change
	for k := range f.dirty {
		f.diff(k, &ch)
	}
	n := len(f.dirty)
	clear(f.dirty)
	f.send(&ch)
	buildSeconds.Observe(time.Since(start).Seconds())
	f.log.Debug("published", "services", n, "took", time.Since(start))
}

// diff translates one service and records in ch what differs from what it
// last produced.
func (f *Feed) diff(k string, ch *change) {
	next := &published{}
	if svc, ok := f.services[k]; ok {
		view := &translate.View{Domain: f.cfg.Domain, Weights: f.weights}
		s := translate.Service{Service: svc}
		for _, sl := range f.slices[k] {
			s.Slices = append(s.Slices, sl)
		}
		view.Services = []translate.Service{s}
		res := translate.Translate(view)
		add := func(kind server.Kind, name string, m proto.Message) {
			if next[kind] == nil {
				next[kind] = map[string]proto.Message{}
			}
			next[kind][name] = m
		}
		for _, m := range res.Listeners {
			add(server.APIListeners, m.Name, m)
		}
		for _, m := range res.Outbound {
			add(server.OutboundListeners, m.Name, m)
		}
		for _, m := range res.Routes {
			add(server.Routes, m.Name, m)
		}
		for _, m := range res.Clusters {
			add(server.Clusters, m.Name, m)
		}
		for _, m := range res.Endpoints {
			add(server.Endpoints, m.ClusterName, m)
		}
	}
	prev := f.published[k]
	if prev == nil {
		prev = &published{}
	}
	for kind := range next {
		for name, m := range next[kind] {
			if old, ok := prev[kind][name]; ok && proto.Equal(old, m) {
				continue
			}
			if ch.set[kind] == nil {
				ch.set[kind] = map[string]types.Resource{}
			}
			ch.set[kind][name] = m
		}
		for name := range prev[kind] {
			if _, ok := next[kind][name]; !ok {
				ch.del[kind] = append(ch.del[kind], name)
			}
		}
	}
	if _, ok := f.services[k]; ok {
		f.published[k] = next
	} else {
		delete(f.published, k)
	}
}

// send applies ch make-before-break: new endpoints and clusters before the
// routes and listeners that point at them, and listeners removed before the
// clusters under them.
func (f *Feed) send(ch *change) {
	order := []server.Kind{server.Endpoints, server.Clusters, server.Routes, server.OutboundListeners, server.APIListeners}
	for _, k := range order {
		if err := f.cfg.Sink.Update(k, ch.set[k], nil); err != nil {
			f.log.Error("update xDS resources", "kind", k.String(), "err", err)
		}
		updatedTotal.WithLabelValues(k.String()).Add(float64(len(ch.set[k])))
	}
	for i := len(order) - 1; i >= 0; i-- {
		k := order[i]
		if err := f.cfg.Sink.Update(k, nil, ch.del[k]); err != nil {
			f.log.Error("delete xDS resources", "kind", k.String(), "err", err)
		}
		deletedTotal.WithLabelValues(k.String()).Add(float64(len(ch.del[k])))
	}
}

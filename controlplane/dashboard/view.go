package dashboard

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
)

// section is the change of one list since the viewer's previous message:
// the views added or changed, and the keys of those gone.
type section struct {
	Set []json.RawMessage `json:"set,omitempty"`
	Del []string          `json:"del,omitempty"`
}

// message is one server-sent event of a stream (event: state). Sections
// that did not change are left out; Events, when present, is the whole
// list.
type message struct {
	// Time is the snapshot's, in unix milliseconds: the page samples its
	// plots at each message.
	Time int64 `json:"t"`
	// User is who the stream is for (first message only).
	User string `json:"user,omitempty"`
	// Can says which sections the viewer may see (when it changes).
	Can         map[string]bool    `json:"can,omitempty"`
	Nodes       *section           `json:"nodes,omitempty"`
	Services    *section           `json:"services,omitempty"`
	Deployments *section           `json:"deployments,omitempty"`
	Events      *[]json.RawMessage `json:"events,omitempty"`
}

// viewState is what one stream has sent, by item key and hash, so that the
// next message carries only what changed.
type viewState struct {
	user                     string
	sentAny                  bool
	can                      map[string]bool
	nodes, services, deploys map[string]uint64
	events                   uint64
}

func newViewState(user string) *viewState {
	return &viewState{user: user}
}

// next is the message that brings the viewer from what it was sent to s,
// as far as r lets it see.
func (v *viewState) next(s *snapshot, r rights) message {
	m := message{Time: s.at.UnixMilli()}
	if !v.sentAny {
		m.User = v.user
	}
	if can := r.sections(); !v.sentAny || !maps.Equal(can, v.can) {
		m.Can, v.can = can, can
	}
	m.Nodes, v.nodes = diff(v.nodes, s.nodes, func(it item) ([]byte, uint64, bool) {
		if r.nodeLoad {
			return it.full, it.fullHash, r.nodes
		}
		return it.part, it.partHash, r.nodes
	})
	m.Services, v.services = diff(v.services, s.services, func(it item) ([]byte, uint64, bool) {
		if r.endpoints.has(it.ns) {
			return it.full, it.fullHash, r.services.has(it.ns)
		}
		return it.part, it.partHash, r.services.has(it.ns)
	})
	m.Deployments, v.deploys = diff(v.deploys, s.deploys, func(it item) ([]byte, uint64, bool) {
		return it.full, it.fullHash, r.deploys.has(it.ns)
	})

	var events []json.RawMessage
	h := fnv.New64a()
	for _, it := range s.events {
		if len(events) == eventsShown {
			break
		}
		if r.eventScope.has(it.ns) {
			events = append(events, it.full)
			h.Write(strconv.AppendUint(nil, it.fullHash, 16))
		}
	}
	if sum := h.Sum64(); !v.sentAny || sum != v.events {
		if events == nil {
			events = []json.RawMessage{}
		}
		m.Events, v.events = &events, sum
	}
	v.sentAny = true
	return m
}

// diff returns the section that turns the viewer's prev (hash by key) into
// the visible items, and the new prev. pick says what a viewer sees of an
// item, if anything.
func diff(prev map[string]uint64, items []item, pick func(item) ([]byte, uint64, bool)) (*section, map[string]uint64) {
	next := make(map[string]uint64, len(prev))
	sec := &section{}
	for _, it := range items {
		data, h, ok := pick(it)
		if !ok {
			continue
		}
		next[it.key] = h
		if old, sent := prev[it.key]; !sent || old != h {
			sec.Set = append(sec.Set, data)
		}
	}
	for k := range prev {
		if _, ok := next[k]; !ok {
			sec.Del = append(sec.Del, k)
		}
	}
	slices.Sort(sec.Del)
	if prev == nil {
		return sec, next // the first message says "nothing" explicitly
	}
	if len(sec.Set) == 0 && len(sec.Del) == 0 {
		return nil, next
	}
	return sec, next
}

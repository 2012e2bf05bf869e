package cluster

import (
	"hash/maphash"
	"maps"
)

// numShards splits the name map so that a round copies only the shards it
// changes: a service's dozen names touch a dozen small shards, not a map of
// every name in the cluster.
const numShards = 1024

var shardSeed = maphash.MakeSeed()

func shardOf(key string) int { return int(maphash.String(shardSeed, key) % numShards) }

// nameMap maps lower-case FQDNs to nodes. A published one is never changed.
type nameMap struct {
	shards [numShards]map[string]*node
}

func (m *nameMap) get(key string) *node { return m.shards[shardOf(key)][key] }

func (m *nameMap) len() int {
	n := 0
	for _, s := range m.shards {
		n += len(s)
	}
	return n
}

// all calls f for every name, in no order.
func (m *nameMap) all(f func(string, *node)) {
	for _, s := range m.shards {
		for k, v := range s {
			f(k, v)
		}
	}
}

// nameEdit is the next round's name map: it starts as the current one's
// shards and copies a shard on its first change.
type nameEdit struct {
	m      *nameMap
	copied [numShards]bool
}

func editNames(cur *nameMap) *nameEdit {
	next := &nameMap{}
	if cur != nil {
		next.shards = cur.shards
	}
	return &nameEdit{m: next}
}

func (e *nameEdit) own(i int) map[string]*node {
	if !e.copied[i] {
		if e.m.shards[i] == nil {
			e.m.shards[i] = map[string]*node{}
		} else {
			e.m.shards[i] = maps.Clone(e.m.shards[i])
		}
		e.copied[i] = true
	}
	return e.m.shards[i]
}

func (e *nameEdit) set(key string, n *node) { e.own(shardOf(key))[key] = n }

func (e *nameEdit) del(key string) {
	i := shardOf(key)
	if _, ok := e.m.shards[i][key]; ok {
		delete(e.own(i), key)
	}
}

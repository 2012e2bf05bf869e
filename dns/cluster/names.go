package cluster

import (
	"hash/maphash"
	"maps"
)

// numShards splits an index map so that a round copies only the shards it
// changes: a service's few names touch a few small shards, not a map of
// every name in the cluster.
const numShards = 1024

var shardSeed = maphash.MakeSeed()

// shardMap maps keys to values in shards. A published one is never changed.
type shardMap[K comparable, V any] struct {
	shards [numShards]map[K]V
	shard  func(K) int
}

func (m *shardMap[K, V]) get(k K) (V, bool) {
	v, ok := m.shards[m.shard(k)][k]
	return v, ok
}

func (m *shardMap[K, V]) len() int {
	n := 0
	for i := range m.shards { // by index: ranging over the array would copy it
		n += len(m.shards[i])
	}
	return n
}

// all calls f for every entry, in no order.
func (m *shardMap[K, V]) all(f func(K, V)) {
	for i := range m.shards {
		for k, v := range m.shards[i] {
			f(k, v)
		}
	}
}

// shardEdit is the next round's map: it starts as the current one's shards
// and copies a shard on its first change.
type shardEdit[K comparable, V any] struct {
	m      *shardMap[K, V]
	copied [numShards]bool
}

func editShards[K comparable, V any](cur *shardMap[K, V], shard func(K) int) *shardEdit[K, V] {
	next := &shardMap[K, V]{shard: shard}
	if cur != nil {
		next.shards = cur.shards
	}
	return &shardEdit[K, V]{m: next}
}

func (e *shardEdit[K, V]) own(i int) map[K]V {
	if !e.copied[i] {
		if e.m.shards[i] == nil {
			e.m.shards[i] = map[K]V{}
		} else {
			e.m.shards[i] = maps.Clone(e.m.shards[i])
		}
		e.copied[i] = true
	}
	return e.m.shards[i]
}

func (e *shardEdit[K, V]) get(k K) (V, bool) { return e.m.get(k) }

func (e *shardEdit[K, V]) set(k K, v V) { e.own(e.m.shard(k))[k] = v }

func (e *shardEdit[K, V]) del(k K) {
	i := e.m.shard(k)
	if _, ok := e.m.shards[i][k]; ok {
		delete(e.own(i), k)
	}
}

// nameShard and ipShard place lower-case names and addresses (ipKey).
func nameShard(key string) int { return int(maphash.String(shardSeed, key) % numShards) }

func ipShard(k ipKey) int { return int(maphash.Bytes(shardSeed, k[:]) % numShards) }

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// throughput is n operations done in d.
type throughput struct {
	n int
	d time.Duration
}

func (t throughput) perSecond() float64 { return float64(t.n) / t.d.Seconds() }

// measure runs op n times from c goroutines (op gets the goroutine's index
// and the operation's) and times the lot. The first error stops it.
func measure(ctx context.Context, n, c int, op func(ctx context.Context, worker, i int) error) (throughput, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := op(ctx, w, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return throughput{}, err
	}
	return throughput{n: n, d: d}, nil
}

// etcdPuts puts n 1 KiB values under prefix from c writers sharing one
// client, as Shoal's API server shares one.
func etcdPuts(ctx context.Context, cli *clientv3.Client, prefix string, n, c int) (throughput, error) {
	b := make([]byte, 1024)
	rand.Read(b)
	val := fmt.Sprintf("%x", b)[:1024]
	put := func(ctx context.Context, _, i int) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := cli.Put(ctx, fmt.Sprintf("%s%08d", prefix, i), val); err != nil {
			return fmt.Errorf("etcd put: %w", err)
		}
		return nil
	}
	// Warm up the connection and etcd's first writes, untimed.
	if _, err := measure(ctx, 50, c, func(ctx context.Context, w, i int) error { return put(ctx, w, -1-i) }); err != nil {
		return throughput{}, err
	}
	return measure(ctx, n, c, put)
}

// latencies summarises a sample.
type latencies struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func summarise(d []time.Duration) latencies {
	if len(d) == 0 {
		return latencies{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration { // nearest rank
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return latencies{n: len(s), p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: s[len(s)-1]}
}

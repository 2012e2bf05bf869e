package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

const (
	watchNS    = "bench-watch"
	seqKey     = "bench.shoal.dev/seq"
	warmups    = 50
	eventLimit = 10 * time.Second
)

// watchResult holds the delivery latency of each update, measured from just
// before the Update call and from when it returned.
type watchResult struct {
	fromCall, fromReturn latencies
}

type seen struct {
	seq int
	at  time.Time
}

// watchLatency updates one Service n times, one at a time, and times each
// update until an informer's UpdateFunc (on a connection of its own) sees it.
func (a *apiClients) watchLatency(ctx context.Context, n int) (watchResult, error) {
	if err := a.createNamespace(ctx, watchNS); err != nil {
		return watchResult{}, err
	}
	writer := a.cs[0]
	svc, err := writer.CoreV1().Services(watchNS).Create(ctx, benchService("watched", true), metav1.CreateOptions{})
	if err != nil {
		return watchResult{}, fmt.Errorf("create the watched service: %w", err)
	}

	watcher, err := a.newClientset()
	if err != nil {
		return watchResult{}, err
	}
	events := make(chan seen, 1024)
	factory := informers.NewSharedInformerFactoryWithOptions(watcher, 0, informers.WithNamespace(watchNS))
	inf := factory.Core().V1().Services().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			at := time.Now()
			s, ok := obj.(*corev1.Service)
			if !ok {
				return
			}
			if seq, err := strconv.Atoi(s.Annotations[seqKey]); err == nil {
				select {
				case events <- seen{seq, at}:
				default: // the writer waits for each event, so this does not fill
				}
			}
		},
	}); err != nil {
		return watchResult{}, fmt.Errorf("add event handler: %w", err)
	}
	ictx, stop := context.WithCancel(ctx)
	defer func() { stop(); factory.Shutdown() }()
	factory.Start(ictx.Done())
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	synced := cache.WaitForCacheSync(sctx.Done(), inf.HasSynced)
	scancel()
	if !synced {
		return watchResult{}, fmt.Errorf("informer not synced within 30s")
	}

	fromCall := make([]time.Duration, 0, n)
	fromReturn := make([]time.Duration, 0, n)
	for i := -warmups; i < n; i++ {
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[seqKey] = strconv.Itoa(i)
		called := time.Now()
		svc, err = writer.CoreV1().Services(watchNS).Update(ctx, svc, metav1.UpdateOptions{})
		returned := time.Now()
		if err != nil {
			return watchResult{}, fmt.Errorf("update the watched service: %w", err)
		}
		at, err := waitFor(ctx, events, i)
		if err != nil {
			return watchResult{}, err
		}
		if i >= 0 {
			fromCall = append(fromCall, at.Sub(called))
			// The event may beat the response to the client: that is 0.
			fromReturn = append(fromReturn, max(0, at.Sub(returned)))
		}
	}
	return watchResult{fromCall: summarise(fromCall), fromReturn: summarise(fromReturn)}, nil
}

// waitFor returns when the informer saw update seq.
func waitFor(ctx context.Context, events <-chan seen, seq int) (time.Time, error) {
	timeout := time.NewTimer(eventLimit)
	defer timeout.Stop()
	for {
		select {
		case e := <-events:
			if e.seq == seq {
				return e.at, nil
			}
		case <-timeout.C:
			return time.Time{}, fmt.Errorf("update %d not seen by the informer within %v", seq, eventLimit)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

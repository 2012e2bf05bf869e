package nodeagent

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
)

// leaseDurationSeconds is what the Lease says about how long a renewal
// holds, as kubelet's (40 s). The node lifecycle controller has its own
// grace period and does not read it.
const leaseDurationSeconds = 40

// leaseState is the node's Lease as last written.
type leaseState struct {
	mu        sync.Mutex
	lease     *coordinationv1.Lease
	lastRenew time.Time // last successful renewal
	// report is the load report last measured, sent again until it is
	// api.LoadInterval old: renewals may come faster than load samples.
	report api.LoadReport
}

// renewed reports when the Lease was last renewed.
func (l *leaseState) renewed() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastRenew
}

// runLease renews the node's Lease every Config.LeaseRenewInterval, with a
// load report measured at most api.LoadInterval earlier: one write per
// interval, however many pods run.
func (a *Agent) runLease(ctx context.Context) {
	every := a.cfg.LeaseRenewInterval
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(every, api.LoadInterval))
		err := a.renewLease(rctx)
		cancel()
		a.metrics.leaseRenewals(err)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("renew lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renewLease writes the Lease once: renewTime and the load report together.
// A conflict (someone else wrote it) or a missing Lease costs one read or
// create more.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.client.CoordinationV1().Leases(api.NodeLeaseNamespace)
	a.lease.mu.Lock()
	defer a.lease.mu.Unlock()
	// A little early rather than one renewal late.
	if time.Since(a.lease.report.Time) >= api.LoadInterval-a.cfg.LeaseRenewInterval/2 {
		a.lease.report = a.measure(ctx)
	}
	report := a.lease.report
	for attempt := 0; ; attempt++ {
		cur := a.lease.lease
		if cur == nil {
			got, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: api.NodeLeaseNamespace, Name: a.cfg.NodeName}}
				if err := a.setLease(l, report); err != nil {
					return err
				}
				out, err := leases.Create(ctx, l, metav1.CreateOptions{})
				if err != nil {
					return fmt.Errorf("create lease: %w", err)
				}
				a.lease.lease, a.lease.lastRenew = out, time.Now()
				return nil
			case err != nil:
				return fmt.Errorf("get lease: %w", err)
			}
			cur = got
		}
		l := cur.DeepCopy()
		if err := a.setLease(l, report); err != nil {
			return err
		}
		out, err := leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			a.lease.lease, a.lease.lastRenew = out, time.Now()
			return nil
		}
		a.lease.lease = nil // re-read next time
		if (!apierrors.IsConflict(err) && !apierrors.IsNotFound(err)) || attempt >= 2 {
			return fmt.Errorf("update lease: %w", err)
		}
	}
}

func (a *Agent) setLease(l *coordinationv1.Lease, r api.LoadReport) error {
	holder, secs, now := a.cfg.NodeName, int32(leaseDurationSeconds), metav1.NowMicro()
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &holder, &secs, &now
	return api.SetLoadReport(l, r)
}

package deployment

import (
	"context"
	"math"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
)

// The rollout strategies and scaling, after Kubernetes' rolling.go,
// recreate.go and sync.go. Each step that scales a ReplicaSet ends the
// sync: the ReplicaSet's change (and later its pods') queue the next one.

// rolloutRolling scales the new ReplicaSet up within maxSurge, then the old
// ones down within maxUnavailable.
func (s *deploymentSync) rolloutRolling(ctx context.Context) error {
	newRS, old, err := s.replicaSets(ctx, true)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)
	scaledUp, err := s.reconcileNewReplicaSet(ctx, all, newRS)
	if err != nil {
		return err
	}
	if scaledUp {
		return s.syncRolloutStatus(ctx, all, newRS)
	}
	scaledDown, err := s.reconcileOldReplicaSets(ctx, all, activeRSs(old), newRS)
	if err != nil {
		return err
	}
	if scaledDown {
		return s.syncRolloutStatus(ctx, all, newRS)
	}
	if deploymentComplete(s.d, &s.d.Status) {
		if err := s.cleanup(ctx, old); err != nil {
			return err
		}
	}
	return s.syncRolloutStatus(ctx, all, newRS)
}

func (s *deploymentSync) reconcileNewReplicaSet(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	want := *s.d.Spec.Replicas
	switch {
	case *newRS.Spec.Replicas == want:
		return false, nil
	case *newRS.Spec.Replicas > want:
		return s.scaleReplicaSet(ctx, newRS, want)
	}
	return s.scaleReplicaSet(ctx, newRS, s.newRSNewReplicas(all, newRS))
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as keeps
// replicas - maxUnavailable pods available: first their pods that are not
// available anyway, then available ones that the new ReplicaSet's have
// replaced.
func (s *deploymentSync) reconcileOldReplicaSets(ctx context.Context, all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if specReplicas(old) == 0 {
		return false, nil
	}
	minAvailable := *s.d.Spec.Replicas - maxUnavailable(s.d)
	newUnavailable := *newRS.Spec.Replicas - s.available(newRS)
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	cleaned, err := s.cleanupUnhealthyReplicas(ctx, old, maxScaledDown)
	if err != nil {
		return cleaned > 0, err
	}
	scaled, err := s.scaleDownOldForRollingUpdate(ctx, withNew(old, newRS), old)
	return cleaned+scaled > 0, err
}

// cleanupUnhealthyReplicas scales old ReplicaSets down by their pods that
// are not available: that costs no availability.
func (s *deploymentSync) cleanupUnhealthyReplicas(ctx context.Context, old []*appsv1.ReplicaSet, maxCleanup int32) (int32, error) {
	byCreation(old)
	var total int32
	for _, rs := range old {
		if total >= maxCleanup {
			break
		}
		unhealthy := *rs.Spec.Replicas - s.available(rs)
		if *rs.Spec.Replicas == 0 || unhealthy == 0 {
			continue
		}
		n := min(maxCleanup-total, unhealthy)
		if _, err := s.scaleReplicaSet(ctx, rs, *rs.Spec.Replicas-n); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (s *deploymentSync) scaleDownOldForRollingUpdate(ctx context.Context, all, old []*appsv1.ReplicaSet) (int32, error) {
	minAvailable := *s.d.Spec.Replicas - maxUnavailable(s.d)
	var available int32
	for _, rs := range all {
		available += s.available(rs)
	}
	if available <= minAvailable {
		return 0, nil
	}
	byCreation(old)
	allowed := available - minAvailable
	var total int32
	for _, rs := range old {
		if total >= allowed {
			break
		}
		if *rs.Spec.Replicas == 0 {
			continue
		}
		n := min(*rs.Spec.Replicas, allowed-total)
		if _, err := s.scaleReplicaSet(ctx, rs, *rs.Spec.Replicas-n); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// rolloutRecreate scales every old ReplicaSet to 0, waits until their pods
// are gone, then scales the new one up.
func (s *deploymentSync) rolloutRecreate(ctx context.Context) error {
	newRS, old, err := s.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)
	scaledDown := false
	for _, rs := range activeRSs(old) {
		scaled, err := s.scaleReplicaSet(ctx, rs, 0)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown || s.oldPodsRunning(old) {
		return s.syncRolloutStatus(ctx, all, newRS)
	}
	if newRS == nil {
		if newRS, old, err = s.replicaSets(ctx, true); err != nil {
			return err
		}
		all = withNew(old, newRS)
	}
	if _, err := s.scaleReplicaSet(ctx, newRS, *s.d.Spec.Replicas); err != nil {
		return err
	}
	if deploymentComplete(s.d, &s.d.Status) {
		if err := s.cleanup(ctx, old); err != nil {
			return err
		}
	}
	return s.syncRolloutStatus(ctx, all, newRS)
}

// oldPodsRunning reports whether any old ReplicaSet still has a pod, by its
// status or by the pod cache.
func (s *deploymentSync) oldPodsRunning(old []*appsv1.ReplicaSet) bool {
	for _, rs := range old {
		if rs.Status.Replicas > 0 || s.statsOf(rs).Present > 0 {
			return true
		}
	}
	return false
}

// isScalingEvent reports whether spec.replicas changed since the active
// ReplicaSets were last scaled for it (their desired-replicas annotation).
func (s *deploymentSync) isScalingEvent() bool {
	newRS, old := s.findNewReplicaSet()
	for _, rs := range activeRSs(withNew(old, newRS)) {
		if desired, ok := intAnnotation(rs, desiredReplicasAnnotation); ok && desired != *s.d.Spec.Replicas {
			return true
		}
	}
	return false
}

// syncScale scales without rolling out: for a paused Deployment or a
// change of spec.replicas.
func (s *deploymentSync) syncScale(ctx context.Context) error {
	newRS, old, err := s.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	if err := s.scale(ctx, newRS, old); err != nil {
		return err
	}
	if s.d.Spec.Paused {
		if err := s.cleanup(ctx, old); err != nil {
			return err
		}
	}
	return s.syncDeploymentStatus(ctx, withNew(old, newRS), newRS)
}

// scale brings the ReplicaSets to spec.replicas: the only active one
// directly; several mid-rollout in proportion to their size, so that a
// scale does not undo or rush the rollout.
func (s *deploymentSync) scale(ctx context.Context, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	d := s.d
	if rs := activeOrLatest(newRS, old); rs != nil {
		_, err := s.scaleReplicaSet(ctx, rs, *d.Spec.Replicas)
		return err
	}
	if s.isSaturated(newRS) {
		for _, rs := range activeRSs(old) {
			if _, err := s.scaleReplicaSet(ctx, rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := activeRSs(withNew(old, newRS))
	var allowed int32
	if *d.Spec.Replicas > 0 {
		allowed = *d.Spec.Replicas + maxSurge(d)
	}
	toAdd := allowed - specReplicas(all)
	switch {
	case toAdd > 0: // larger first; of equal ones, newer first
		sort.SliceStable(all, func(i, j int) bool {
			if *all[i].Spec.Replicas == *all[j].Spec.Replicas {
				return createdBefore(all[j], all[i])
			}
			return *all[i].Spec.Replicas > *all[j].Spec.Replicas
		})
	case toAdd < 0: // larger first; of equal ones, older first
		sort.SliceStable(all, func(i, j int) bool {
			if *all[i].Spec.Replicas == *all[j].Spec.Replicas {
				return createdBefore(all[i], all[j])
			}
			return *all[i].Spec.Replicas > *all[j].Spec.Replicas
		})
	}
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = *rs.Spec.Replicas
		if toAdd != 0 {
			p := s.proportion(rs, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	// What rounding left over goes to the largest.
	if toAdd != 0 && len(all) > 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	for i, rs := range all {
		if _, err := s.scaleReplicaSet(ctx, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// activeOrLatest is the only active ReplicaSet, or the newest if none is
// active; nil if several are.
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	newestFirst := append([]*appsv1.ReplicaSet(nil), old...)
	sort.SliceStable(newestFirst, func(i, j int) bool { return createdBefore(newestFirst[j], newestFirst[i]) })
	active := activeRSs(withNew(newestFirst, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return newestFirst[0]
	case 1:
		return active[0]
	}
	return nil
}

// isSaturated reports whether the new ReplicaSet has all replicas, all
// available.
func (s *deploymentSync) isSaturated(rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, desiredReplicasAnnotation)
	want := *s.d.Spec.Replicas
	return ok && desired == want && *rs.Spec.Replicas == want && s.statsOf(rs).Available == want
}

// proportion is rs's share of toAdd (negative: to remove), given added
// already handed out.
func (s *deploymentSync) proportion(rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	if rs == nil || *rs.Spec.Replicas == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := s.fraction(rs)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// fraction is how much rs grows or shrinks if the Deployment's new size is
// shared in the proportion rs had of the size it was last scaled for.
func (s *deploymentSync) fraction(rs *appsv1.ReplicaSet) int32 {
	d := s.d
	if *d.Spec.Replicas == 0 {
		return -*rs.Spec.Replicas
	}
	target := *d.Spec.Replicas + maxSurge(d)
	annotated, ok := intAnnotation(rs, maxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	size := float64(*rs.Spec.Replicas) * float64(target) / float64(annotated)
	return int32(math.Round(size)) - *rs.Spec.Replicas
}

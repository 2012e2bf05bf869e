package deployment

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// withNew is old followed by newRS (if any), in a new slice.
func withNew(old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := make([]*appsv1.ReplicaSet, 0, len(old)+1)
	out = append(out, old...)
	if newRS != nil {
		out = append(out, newRS)
	}
	return out
}

// activeRSs is those of rsets with pods wanted.
func activeRSs(rsets []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rsets {
		if rs != nil && *rs.Spec.Replicas > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// specReplicas is the sum of spec.replicas.
func specReplicas(rsets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rsets {
		if rs != nil {
			n += *rs.Spec.Replicas
		}
	}
	return n
}

func byCreation(rsets []*appsv1.ReplicaSet) {
	sort.SliceStable(rsets, func(i, j int) bool { return createdBefore(rsets[i], rsets[j]) })
}

func createdBefore(a, b *appsv1.ReplicaSet) bool {
	if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.Name < b.Name
	}
	return a.CreationTimestamp.Before(&b.CreationTimestamp)
}

// fenceposts resolves maxSurge (rounding up) and maxUnavailable (rounding
// down) against desired; if both come to 0, maxUnavailable is 1, or the
// rollout could not move.
func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil {
		return 0, 1
	}
	desired := int(*d.Spec.Replicas)
	zero := intstr.FromInt32(0)
	sv, uv := &zero, &zero
	if ru.MaxSurge != nil {
		sv = ru.MaxSurge
	}
	if ru.MaxUnavailable != nil {
		uv = ru.MaxUnavailable
	}
	s, err1 := intstr.GetScaledValueFromIntOrPercent(sv, desired, true)
	u, err2 := intstr.GetScaledValueFromIntOrPercent(uv, desired, false)
	if err1 != nil || err2 != nil {
		return 0, 1
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u)
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || *d.Spec.Replicas == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, *d.Spec.Replicas)
}

// newRSNewReplicas is how far the new ReplicaSet may grow now: to all
// replicas for Recreate; for RollingUpdate, as far as maxSurge allows over
// what every ReplicaSet wants or still has.
func (s *deploymentSync) newRSNewReplicas(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	d := s.d
	if !isRollingUpdate(d) {
		return *d.Spec.Replicas
	}
	var current int32
	for _, rs := range all {
		current += max(*rs.Spec.Replicas, s.statsOf(rs).Active)
	}
	maxTotal := *d.Spec.Replicas + maxSurge(d)
	if current >= maxTotal {
		return *newRS.Spec.Replicas
	}
	up := min(maxTotal-current, *d.Spec.Replicas-*newRS.Spec.Replicas)
	return *newRS.Spec.Replicas + max(up, 0)
}

// replicaSets splits the Deployment's ReplicaSets into the new one (whose
// template is the Deployment's) and the old ones, brings the new one's
// revision and annotations up to date, and creates it if create is set and
// there is none.
func (s *deploymentSync) replicaSets(ctx context.Context, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	newRS, old := s.findNewReplicaSet()
	var maxOld int64
	for _, rs := range old {
		maxOld = max(maxOld, revisionOf(rs))
	}
	newRevision := strconv.FormatInt(maxOld+1, 10)
	if newRS != nil {
		return newRS, old, s.syncNewReplicaSet(ctx, newRS, newRevision)
	}
	if !create {
		return nil, old, nil
	}
	newRS, err := s.createNewReplicaSet(ctx, old, newRevision)
	if err != nil {
		return nil, nil, err
	}
	s.rsList = append(s.rsList, newRS)
	return newRS, old, nil
}

// findNewReplicaSet picks the oldest ReplicaSet with the Deployment's
// template as the new one.
func (s *deploymentSync) findNewReplicaSet() (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	byCreation(s.rsList)
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range s.rsList {
		if newRS == nil && equalIgnoreHash(&rs.Spec.Template, &s.d.Spec.Template) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

// syncNewReplicaSet gives an existing new ReplicaSet the newest revision
// (a rollback moves an old one there), the Deployment's annotations and
// minReadySeconds, and the Deployment its revision.
func (s *deploymentSync) syncNewReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, newRevision string) error {
	d := s.d
	probe := rs.DeepCopy()
	if setNewReplicaSetAnnotations(d, probe, newRevision, true) || probe.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
		res, err := s.c.reg.Update(ctx, registry.ReplicaSets, rs.Namespace, rs.Name, "", func(cur store.Object) (store.Object, error) {
			r := cur.(*appsv1.ReplicaSet)
			if r.UID != rs.UID {
				return nil, apierrors.NewConflict(registry.ReplicaSets.GroupResource(), rs.Name, errors.New("replica set was replaced"))
			}
			setNewReplicaSetAnnotations(d, r, newRevision, true)
			r.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			r.ResourceVersion = ""
			return r, nil
		}, registry.WriteOptions{})
		if err != nil {
			return fmt.Errorf("update new replica set %s: %w", controller.Key(rs), err)
		}
		s.w.Wrote(s.c.rsets, res.Object)
		*rs = *res.Object.(*appsv1.ReplicaSet)
	}
	if err := s.setDeploymentRevision(ctx, rs.Annotations[revisionAnnotation]); err != nil {
		return err
	}
	if hasProgressDeadline(d) && deploymentCondition(d.Status, appsv1.DeploymentProgressing) == nil {
		setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			"FoundNewReplicaSet", fmt.Sprintf("Found new replica set %q", rs.Name), s.now))
	}
	return nil
}

// createNewReplicaSet creates the ReplicaSet of the Deployment's template,
// named <deployment>-<hash>.
func (s *deploymentSync) createNewReplicaSet(ctx context.Context, old []*appsv1.ReplicaSet, newRevision string) (*appsv1.ReplicaSet, error) {
	d := s.d
	hash := podTemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	tmpl := d.Spec.Template.DeepCopy()
	tmpl.Labels = withLabel(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels = withLabel(sel.MatchLabels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, deploymentKind)},
			Labels:          tmpl.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        new(int32),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        *tmpl,
		},
	}
	replicas := s.newRSNewReplicas(withNew(old, rs), rs)
	*rs.Spec.Replicas = replicas
	setNewReplicaSetAnnotations(d, rs, newRevision, false)

	var created *appsv1.ReplicaSet
	res, err := s.c.reg.Create(ctx, registry.ReplicaSets, rs.DeepCopy(), registry.WriteOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Ours, unseen by a lagging cache, or another template's: a hash
		// collision, which a new collisionCount (so a new hash) resolves.
		cur, gerr := s.c.reg.Store.Get(ctx, registry.ReplicaSets.Resource, rs.Namespace, rs.Name)
		if gerr != nil {
			return nil, fmt.Errorf("get existing replica set %s: %w", controller.Key(rs), gerr)
		}
		existing := cur.(*appsv1.ReplicaSet)
		if ref := metav1.GetControllerOfNoCopy(existing); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &existing.Spec.Template) {
			s.w.Wrote(s.c.rsets, existing)
			if existing.Spec.Replicas == nil {
				existing.Spec.Replicas = new(int32(1))
			}
			return existing, s.setDeploymentRevision(ctx, newRevision)
		}
		count := int32(1)
		if d.Status.CollisionCount != nil {
			count = *d.Status.CollisionCount + 1
		}
		d.Status.CollisionCount = &count
		if werr := s.writeStatus(ctx, *d.Status.DeepCopy()); werr != nil {
			return nil, errors.Join(err, werr)
		}
		return nil, fmt.Errorf("replica set %s: pod template hash collision: %w", controller.Key(rs), err)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if ctx.Err() == nil {
			s.c.events.Eventf(d, registry.Deployments, corev1.EventTypeWarning, "ReplicaSetCreateError", "%s", msg)
		}
		if hasProgressDeadline(d) {
			setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse,
				"ReplicaSetCreateError", msg, s.now))
			if werr := s.writeStatus(ctx, *d.Status.DeepCopy()); werr != nil {
				return nil, errors.Join(err, werr)
			}
		}
		return nil, fmt.Errorf("create replica set %s: %w", controller.Key(rs), err)
	default:
		created = res.Object.(*appsv1.ReplicaSet)
	}
	s.w.Wrote(s.c.rsets, created)
	if replicas > 0 {
		s.c.events.Eventf(d, registry.Deployments, corev1.EventTypeNormal, "ScalingReplicaSet",
			"Scaled up replica set %s from 0 to %d", created.Name, replicas)
	}
	if hasProgressDeadline(d) {
		setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			"NewReplicaSetCreated", fmt.Sprintf("Created new replica set %q", created.Name), s.now))
	}
	return created, s.setDeploymentRevision(ctx, newRevision)
}

// setDeploymentRevision records revision on the Deployment (an annotation,
// so a write of the object, not its status).
func (s *deploymentSync) setDeploymentRevision(ctx context.Context, revision string) error {
	d := s.d
	if revision == "" || d.Annotations[revisionAnnotation] == revision {
		return nil
	}
	res, err := s.c.reg.Update(ctx, registry.Deployments, d.Namespace, d.Name, "", func(cur store.Object) (store.Object, error) {
		c := cur.(*appsv1.Deployment)
		if c.UID != d.UID {
			return nil, apierrors.NewConflict(registry.Deployments.GroupResource(), d.Name, errors.New("deployment was replaced"))
		}
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[revisionAnnotation] = revision
		c.ResourceVersion = ""
		return c, nil
	}, registry.WriteOptions{})
	if err != nil {
		return fmt.Errorf("set revision of deployment %s: %w", s.key, err)
	}
	s.w.Wrote(s.c.deploys, res.Object)
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[revisionAnnotation] = revision
	return nil
}

// scaleReplicaSet sets rs's replicas (and its desired- and max-replicas
// annotations); it reports whether the size changed.
func (s *deploymentSync) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32) (bool, error) {
	d := s.d
	from := *rs.Spec.Replicas
	desired, maxReplicas := *d.Spec.Replicas, *d.Spec.Replicas+maxSurge(d)
	if from == size && !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false, nil
	}
	res, err := s.c.reg.Update(ctx, registry.ReplicaSets, rs.Namespace, rs.Name, "", func(cur store.Object) (store.Object, error) {
		r := cur.(*appsv1.ReplicaSet)
		// Act only on the ReplicaSet this sync looked at: another change to
		// its spec means deciding again.
		if r.UID != rs.UID || r.Generation != rs.Generation {
			return nil, apierrors.NewConflict(registry.ReplicaSets.GroupResource(), rs.Name, errors.New("replica set changed since it was read"))
		}
		r.Spec.Replicas = new(size)
		setReplicasAnnotations(r, desired, maxReplicas)
		r.ResourceVersion = ""
		return r, nil
	}, registry.WriteOptions{})
	if err != nil {
		return false, fmt.Errorf("scale replica set %s to %d: %w", controller.Key(rs), size, err)
	}
	s.w.Wrote(s.c.rsets, res.Object)
	*rs = *res.Object.(*appsv1.ReplicaSet)
	if from == size {
		return false, nil
	}
	direction := "up"
	if size < from {
		direction = "down"
	}
	s.c.events.Eventf(d, registry.Deployments, corev1.EventTypeNormal, "ScalingReplicaSet",
		"Scaled %s replica set %s from %d to %d", direction, rs.Name, from, size)
	return true, nil
}

// cleanup deletes the oldest old ReplicaSets beyond revisionHistoryLimit
// that have nothing left running.
func (s *deploymentSync) cleanup(ctx context.Context, old []*appsv1.ReplicaSet) error {
	d := s.d
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var cleanable []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			cleanable = append(cleanable, rs)
		}
	}
	diff := len(cleanable) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(cleanable, func(i, j int) bool {
		ri, rj := revisionOf(cleanable[i]), revisionOf(cleanable[j])
		if ri == rj {
			return createdBefore(cleanable[i], cleanable[j])
		}
		return ri < rj
	})
	for _, rs := range cleanable[:diff] {
		if rs.Status.Replicas != 0 || *rs.Spec.Replicas != 0 || rs.Generation > rs.Status.ObservedGeneration || s.statsOf(rs).Present != 0 {
			continue
		}
		_, err := s.c.reg.Delete(ctx, registry.ReplicaSets, rs.Namespace, rs.Name, &store.Preconditions{UID: string(rs.UID)}, registry.WriteOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete old replica set %s: %w", controller.Key(rs), err)
		}
		s.w.Deleted(s.c.rsets, rs)
	}
	return nil
}

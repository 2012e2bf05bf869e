package deployment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Deployment status and conditions, after Kubernetes' sync.go and
// progress.go: `kubectl rollout status` finishes when observedGeneration
// has caught up and updated, available and total replicas all equal
// spec.replicas.

// Condition reasons Kubernetes uses.
const (
	reasonNewRSAvailable       = "NewReplicaSetAvailable"
	reasonRSUpdated            = "ReplicaSetUpdated"
	reasonTimedOut             = "ProgressDeadlineExceeded"
	reasonPaused               = "DeploymentPaused"
	reasonResumed              = "DeploymentResumed"
	reasonMinimumAvailable     = "MinimumReplicasAvailable"
	reasonMinimumUnavailable   = "MinimumReplicasUnavailable"
	messageMinimumAvailable    = "Deployment has minimum availability."
	messageMinimumNotAvailable = "Deployment does not have minimum availability."
)

// calculateStatus is the Deployment's status from its ReplicaSets' pods.
func (s *deploymentSync) calculateStatus(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	d := s.d
	status := appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		CollisionCount:     d.Status.CollisionCount,
		Conditions:         append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	for _, rs := range all {
		st := s.statsOf(rs)
		status.Replicas += st.Active
		status.ReadyReplicas += st.Ready
		status.AvailableReplicas += st.Available
	}
	if newRS != nil {
		status.UpdatedReplicas = s.statsOf(newRS).Active
	}
	status.UnavailableReplicas = max(specReplicas(all)-status.AvailableReplicas, 0)
	if status.AvailableReplicas >= *d.Spec.Replicas-maxUnavailable(d) {
		setDeploymentCondition(&status, newDeploymentCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue,
			reasonMinimumAvailable, messageMinimumAvailable, s.now))
	} else {
		setDeploymentCondition(&status, newDeploymentCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse,
			reasonMinimumUnavailable, messageMinimumNotAvailable, s.now))
	}
	return status
}

// syncDeploymentStatus writes the status if it changed.
func (s *deploymentSync) syncDeploymentStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	status := s.calculateStatus(all, newRS)
	if apiequality.Semantic.DeepEqual(s.orig, status) {
		return nil
	}
	return s.writeStatus(ctx, status)
}

// syncRolloutStatus writes the status with the Progressing condition: the
// rollout completed, made progress, or is past its deadline.
func (s *deploymentSync) syncRolloutStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	d := s.d
	status := s.calculateStatus(all, newRS)
	if !hasProgressDeadline(d) {
		removeDeploymentCondition(&status, appsv1.DeploymentProgressing)
	}
	cur := deploymentCondition(d.Status, appsv1.DeploymentProgressing)
	done := status.Replicas == status.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !done {
		subject := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case deploymentComplete(d, &status):
			setDeploymentCondition(&status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
				reasonNewRSAvailable, subject+" has successfully progressed.", s.now))
		case deploymentProgressing(d, &status):
			// Progress moves lastUpdateTime (the deadline counts from it)
			// even though the reason stays.
			cond := newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
				reasonRSUpdated, subject+" is progressing.", s.now)
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					cond.LastTransitionTime = cur.LastTransitionTime
				}
				removeDeploymentCondition(&status, appsv1.DeploymentProgressing)
			}
			setDeploymentCondition(&status, cond)
		case deploymentTimedOut(d, &status, s.now):
			setDeploymentCondition(&status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse,
				reasonTimedOut, subject+" has timed out progressing.", s.now))
		}
	}
	if apiequality.Semantic.DeepEqual(s.orig, status) {
		s.requeueStuck(&status)
		return nil
	}
	return s.writeStatus(ctx, status)
}

// requeueStuck checks the rollout again when its progress deadline passes.
func (s *deploymentSync) requeueStuck(status *appsv1.DeploymentStatus) {
	d := s.d
	cond := deploymentCondition(*status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cond == nil || deploymentComplete(d, status) || cond.Reason == reasonTimedOut {
		return
	}
	deadline := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	s.q.AddAfter(s.key, max(deadline.Sub(s.now), 0)+time.Second)
}

// checkPausedConditions marks the Progressing condition paused or resumed,
// so that a pause does not count against the progress deadline.
func (s *deploymentSync) checkPausedConditions() {
	d := s.d
	if !hasProgressDeadline(d) {
		return
	}
	cond := deploymentCondition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == reasonTimedOut {
		return
	}
	paused := cond != nil && cond.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !paused:
		setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown,
			reasonPaused, "Deployment is paused", s.now))
	case !d.Spec.Paused && paused:
		setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown,
			reasonResumed, "Deployment is resumed", s.now))
	}
}

// writeStatus writes status through the status subresource.
func (s *deploymentSync) writeStatus(ctx context.Context, status appsv1.DeploymentStatus) error {
	d := s.d
	res, err := s.c.reg.Update(ctx, registry.Deployments, d.Namespace, d.Name, "status", func(cur store.Object) (store.Object, error) {
		c := cur.(*appsv1.Deployment)
		if c.UID != d.UID {
			return nil, apierrors.NewConflict(registry.Deployments.GroupResource(), d.Name, errors.New("deployment was replaced"))
		}
		c.Status = status
		c.ResourceVersion = ""
		return c, nil
	}, registry.WriteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of deployment %s: %w", s.key, err)
	}
	s.w.Wrote(s.c.deploys, res.Object)
	s.orig = status
	d.Status = *status.DeepCopy()
	return nil
}

func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// deploymentComplete reports whether status shows the rollout done.
func deploymentComplete(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	want := *d.Spec.Replicas
	return status.UpdatedReplicas == want && status.Replicas == want && status.AvailableReplicas == want &&
		status.ObservedGeneration >= d.Generation
}

// deploymentProgressing reports progress since the stored status: more
// updated, ready or available pods, or fewer old ones.
func deploymentProgressing(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	old := d.Status
	return status.UpdatedReplicas > old.UpdatedReplicas ||
		status.Replicas-status.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		status.ReadyReplicas > old.ReadyReplicas ||
		status.AvailableReplicas > old.AvailableReplicas
}

func deploymentTimedOut(d *appsv1.Deployment, status *appsv1.DeploymentStatus, now time.Time) bool {
	cond := deploymentCondition(*status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason == reasonNewRSAvailable {
		return false
	}
	if cond.Reason == reasonTimedOut {
		return true
	}
	return cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Before(now)
}

func newDeploymentCondition(t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) appsv1.DeploymentCondition {
	ts := metav1.NewTime(now)
	return appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: message, LastUpdateTime: ts, LastTransitionTime: ts}
}

func deploymentCondition(status appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			c := status.Conditions[i]
			return &c
		}
	}
	return nil
}

// setDeploymentCondition sets cond unless one of its type with the same
// status and reason is there; a transition time survives a change of
// reason alone.
func setDeploymentCondition(status *appsv1.DeploymentStatus, cond appsv1.DeploymentCondition) {
	cur := deploymentCondition(*status, cond.Type)
	if cur != nil && cur.Status == cond.Status && cur.Reason == cond.Reason {
		return
	}
	if cur != nil && cur.Status == cond.Status {
		cond.LastTransitionTime = cur.LastTransitionTime
	}
	removeDeploymentCondition(status, cond.Type)
	status.Conditions = append(status.Conditions, cond)
}

func removeDeploymentCondition(status *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var out []appsv1.DeploymentCondition
	for _, c := range status.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	status.Conditions = out
}

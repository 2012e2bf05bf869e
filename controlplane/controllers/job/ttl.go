package job

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// expire deletes a finished Job once ttlSecondsAfterFinished has passed
// since it finished, as Kubernetes' ttl-after-finished controller does;
// the garbage collector then deletes its pods. Until then the Job is
// queued again for that moment.
func (c *Controller) expire(ctx context.Context, q *controller.Queue, job *batchv1.Job) error {
	ttl := job.Spec.TTLSecondsAfterFinished
	if ttl == nil || job.DeletionTimestamp != nil {
		return nil
	}
	var at time.Time
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			at = cond.LastTransitionTime.Time
		}
	}
	if left := time.Until(at.Add(time.Duration(*ttl) * time.Second)); left > 0 {
		q.AddAfter(controller.Key(job), left)
		return nil
	}
	_, err := c.reg.Delete(ctx, registry.Jobs, job.Namespace, job.Name, &store.Preconditions{UID: string(job.UID)}, registry.WriteOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete job %s after its ttl: %w", controller.Key(job), err)
	}
	if err == nil {
		c.log.Info("deleted a finished job whose ttl passed", "job", controller.Key(job), "ttlSecondsAfterFinished", *ttl)
	}
	return nil
}

package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// reconcile is one HPA's sync, as Kubernetes' reconcileAutoscaler.
func (c *Controller) reconcile(ctx context.Context, key string, hpa *autoscalingv2.HorizontalPodAutoscaler, now time.Time) error {
	orig := hpa.Status.DeepCopy()
	ref := hpa.Spec.ScaleTargetRef
	info, target, scale, err := c.getScale(ctx, hpa)
	if err != nil {
		c.events.Eventf(hpa, registry.HorizontalPodAutoscalers, corev1.EventTypeWarning, "FailedGetScale", "%v", err)
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale",
			fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err), now)
		return c.writeStatus(ctx, hpa, orig)
	}
	setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale", now)
	current := scale.Spec.Replicas
	c.hist.seed(key, current, now)
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}

	var desired int32
	var reason string
	var statuses []autoscalingv2.MetricStatus
	switch {
	case current == 0 && minReplicas != 0:
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero", now)
	case current > hpa.Spec.MaxReplicas:
		desired, reason = hpa.Spec.MaxReplicas, "Current number of replicas above Spec.MaxReplicas"
	case current < minReplicas:
		desired, reason = minReplicas, "Current number of replicas below Spec.MinReplicas"
	default:
		proposal, metric, st, err := c.computeReplicas(ctx, hpa, scale, now)
		statuses = st
		if err != nil && proposal == -1 {
			setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false, now)
			c.events.Eventf(hpa, registry.HorizontalPodAutoscalers, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", "%v", err)
			return c.writeStatus(ctx, hpa, orig)
		}
		desired = proposal
		if desired > current {
			reason = metric + " above target"
		} else if desired < current {
			reason = "All metrics below target"
		}
		n := normalizer{h: c.hist, downscaleWindow: c.cfg.DownscaleStabilization, now: now}.normalize(hpa, key, current, desired, minReplicas)
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, n.ableReason, n.ableMessage, now)
		limitedStatus := corev1.ConditionFalse
		if n.limitedTrue {
			limitedStatus = corev1.ConditionTrue
		}
		setCondition(hpa, autoscalingv2.ScalingLimited, limitedStatus, n.limitReason, n.limitedMessage, now)
		desired = n.replicas
	}

	rescale := desired != current && !(current == 0 && minReplicas != 0)
	if rescale {
		if err := c.setScale(ctx, info, target, desired); err != nil {
			c.events.Eventf(hpa, registry.HorizontalPodAutoscalers, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", desired, reason, err)
			setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale",
				fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err), now)
			setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false, now)
			return errors.Join(fmt.Errorf("rescale %s/%s/%s: %w", ref.Kind, hpa.Namespace, ref.Name, err), c.writeStatus(ctx, hpa, orig))
		}
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale",
			fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired), now)
		c.events.Eventf(hpa, registry.HorizontalPodAutoscalers, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, reason)
		normalizer{h: c.hist, now: now}.record(hpa.Spec.Behavior, key, current, desired)
		c.log.Info("rescaled", "hpa", key, "target", ref.Kind+"/"+ref.Name, "from", current, "to", desired, "reason", reason)
	}
	setStatus(hpa, current, desired, statuses, rescale, now)
	return c.writeStatus(ctx, hpa, orig)
}

// getScale reads the scale subresource of the HPA's target.
func (c *Controller) getScale(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler) (*registry.Info, store.Object, *autoscalingv1.Scale, error) {
	ref := hpa.Spec.ScaleTargetRef
	info, err := registry.ScaleTarget(ref.APIVersion, ref.Kind)
	if err != nil {
		return nil, nil, nil, err
	}
	target, err := c.reg.Store.Get(ctx, info.Resource, hpa.Namespace, ref.Name)
	if err != nil {
		return nil, nil, nil, err
	}
	scale, err := registry.ScaleOf(target)
	return info, target, scale, err
}

// setScale sets the target's replicas, if it is still the object read.
func (c *Controller) setScale(ctx context.Context, info *registry.Info, target store.Object, replicas int32) error {
	_, err := c.reg.Update(ctx, info, target.GetNamespace(), target.GetName(), "", func(cur store.Object) (store.Object, error) {
		if cur.GetUID() != target.GetUID() {
			return nil, apierrors.NewConflict(info.GroupResource(), target.GetName(), errors.New("the scale target was replaced"))
		}
		if err := registry.SetScaleReplicas(cur, replicas); err != nil {
			return nil, err
		}
		cur.SetResourceVersion("")
		return cur, nil
	}, registry.WriteOptions{})
	return err
}

// computeReplicas is the highest replica count any valid metric asks for,
// with the name of that metric and every metric's current value. If every
// metric is invalid, or some are and the others would scale down, it
// returns -1 and sets the first invalid metric's condition.
func (c *Controller) computeReplicas(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, scale *autoscalingv1.Scale, now time.Time) (int32, string, []autoscalingv2.MetricStatus, error) {
	if scale.Status.Selector == "" {
		c.events.Eventf(hpa, registry.HorizontalPodAutoscalers, corev1.EventTypeWarning, "SelectorRequired", "selector is required")
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "the HPA target's scale is missing a selector", now)
		return -1, "", nil, errors.New("selector is required")
	}
	sel, err := labels.Parse(scale.Status.Selector)
	if err != nil {
		msg := fmt.Sprintf("couldn't convert selector into a corresponding internal selector object: %v", err)
		c.events.Eventf(hpa, registry.HorizontalPodAutoscalers, corev1.EventTypeWarning, "InvalidSelector", "%s", msg)
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", msg, now)
		return -1, "", nil, errors.New(msg)
	}
	var pods []*corev1.Pod
	for _, o := range c.pods.List(hpa.Namespace, store.Predicate{Label: sel}) {
		pods = append(pods, o.(*corev1.Pod))
	}
	calc := calculator{tolerance: c.cfg.Tolerance, cpuInitializationPeriod: c.cfg.CPUInitializationPeriod,
		initialReadinessDelay: c.cfg.InitialReadinessDelay, now: now}
	statuses := make([]autoscalingv2.MetricStatus, len(hpa.Spec.Metrics))
	var replicas int32
	var metric string
	var firstErr error
	var firstCond autoscalingv2.HorizontalPodAutoscalerCondition
	invalid := 0
	for i, spec := range hpa.Spec.Metrics {
		proposal, name, merr := c.computeMetric(ctx, calc, spec, scale.Spec.Replicas, pods, &statuses[i], now)
		if merr != nil {
			c.events.Eventf(hpa, registry.HorizontalPodAutoscalers, corev1.EventTypeWarning, merr.reason, "%v", merr.err)
			if invalid == 0 {
				firstErr = merr.wrapped()
				firstCond = autoscalingv2.HorizontalPodAutoscalerCondition{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse,
					Reason: merr.reason, Message: fmt.Sprintf("the HPA was unable to compute the replica count: %v", merr.err)}
			}
			invalid++
			continue
		}
		if replicas == 0 || proposal > replicas {
			replicas, metric = proposal, name
		}
	}
	if firstErr != nil {
		firstErr = fmt.Errorf("invalid metrics (%d invalid out of %d), first error is: %w", invalid, len(hpa.Spec.Metrics), firstErr)
	}
	if invalid >= len(hpa.Spec.Metrics) || (invalid > 0 && replicas < scale.Spec.Replicas) {
		setCondition(hpa, firstCond.Type, firstCond.Status, firstCond.Reason, firstCond.Message, now)
		return -1, "", statuses, firstErr
	}
	setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound",
		fmt.Sprintf("the HPA was able to successfully calculate a replica count from %s", metric), now)
	return replicas, metric, statuses, firstErr
}

// metricError is why a metric has no value: the reason of its condition
// and event, the error they show, and the context the aggregate error
// adds (as Kubernetes words each).
type metricError struct {
	reason  string
	err     error
	context string
}

func (e *metricError) wrapped() error { return fmt.Errorf("%s: %w", e.context, e.err) }

// computeMetric is the replica count one metric asks for, the metric's
// name as the rescale reason gives it, and its current value in status.
func (c *Controller) computeMetric(ctx context.Context, calc calculator, spec autoscalingv2.MetricSpec, current int32, pods []*corev1.Pod,
	status *autoscalingv2.MetricStatus, now time.Time) (int32, string, *metricError) {
	switch spec.Type {
	case autoscalingv2.ResourceMetricSourceType:
		r := spec.Resource
		replicas, cur, name, err := c.resourceMetric(calc, r.Name, r.Target, current, pods)
		if err != nil {
			return 0, "", &metricError{"FailedGetResourceMetric", err, fmt.Sprintf("failed to get %s resource metric value", r.Name)}
		}
		*status = autoscalingv2.MetricStatus{Type: spec.Type, Resource: &autoscalingv2.ResourceMetricStatus{Name: r.Name, Current: cur}}
		return replicas, name, nil
	case autoscalingv2.PodsMetricSourceType:
		p := spec.Pods
		metrics, err := c.metrics.traffic(ctx, p.Metric.Name, pods, now)
		if err != nil {
			return 0, "", &metricError{"FailedGetPodsMetric", fmt.Errorf("unable to get metric %s: %w", p.Metric.Name, err), "failed to get pods metric value"}
		}
		replicas, usage, err := calc.plainReplicas(current, p.Target.AverageValue.MilliValue(), "", pods, metrics)
		if err != nil {
			return 0, "", &metricError{"FailedGetPodsMetric", err, "failed to get pods metric value"}
		}
		*status = autoscalingv2.MetricStatus{Type: spec.Type, Pods: &autoscalingv2.PodsMetricStatus{Metric: p.Metric,
			Current: autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(usage, resource.DecimalSI)}}}
		return replicas, "pods metric " + p.Metric.Name, nil
	case autoscalingv2.ContainerResourceMetricSourceType:
		return 0, "", &metricError{"FailedGetContainerResourceMetric",
			errors.New("container metrics are not served: Shoal's node agents measure whole pods; use a Resource metric"),
			fmt.Sprintf("failed to get %s container metric value", spec.ContainerResource.Name)}
	case autoscalingv2.ObjectMetricSourceType:
		return 0, "", &metricError{"FailedGetObjectMetric", unsupportedSource(string(spec.Type)), "failed to get object metric value"}
	case autoscalingv2.ExternalMetricSourceType:
		return 0, "", &metricError{"FailedGetExternalMetric", unsupportedSource(string(spec.Type)), "failed to get external metric value"}
	}
	return 0, "", &metricError{"InvalidMetricSourceType", fmt.Errorf("unknown metric source type %q", spec.Type), "invalid metric"}
}

// resourceMetric computes a Resource metric: against its AverageValue, or
// as a percentage of the pods' requests.
func (c *Controller) resourceMetric(calc calculator, name corev1.ResourceName, target autoscalingv2.MetricTarget, current int32, pods []*corev1.Pod) (int32, autoscalingv2.MetricValueStatus, string, error) {
	var cur autoscalingv2.MetricValueStatus
	metrics, err := c.metrics.resource(pods, name)
	if err != nil {
		what := "utilization"
		if target.AverageValue != nil {
			what = "usage"
		}
		return 0, cur, "", fmt.Errorf("failed to get %s %s: unable to get metrics for resource %s: %w", name, what, name, err)
	}
	if target.AverageValue != nil {
		replicas, raw, err := calc.plainReplicas(current, target.AverageValue.MilliValue(), name, pods, metrics)
		if err != nil {
			return 0, cur, "", fmt.Errorf("failed to get %s usage: %w", name, err)
		}
		cur.AverageValue = resource.NewMilliQuantity(raw, resource.DecimalSI)
		return replicas, cur, fmt.Sprintf("%s resource", name), nil
	}
	if target.AverageUtilization == nil {
		return 0, cur, "", errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set")
	}
	replicas, percent, raw, err := calc.resourceReplicas(current, *target.AverageUtilization, name, pods, metrics)
	if err != nil {
		return 0, cur, "", fmt.Errorf("failed to get %s utilization: %w", name, err)
	}
	cur.AverageUtilization, cur.AverageValue = new(percent), resource.NewMilliQuantity(raw, resource.DecimalSI)
	return replicas, cur, fmt.Sprintf("%s resource utilization (percentage of request)", name), nil
}

func setStatus(hpa *autoscalingv2.HorizontalPodAutoscaler, current, desired int32, metrics []autoscalingv2.MetricStatus, rescale bool, now time.Time) {
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: new(hpa.Generation),
		CurrentReplicas:    current, DesiredReplicas: desired,
		LastScaleTime: hpa.Status.LastScaleTime, CurrentMetrics: metrics, Conditions: hpa.Status.Conditions,
	}
	if rescale {
		hpa.Status.LastScaleTime = &metav1.Time{Time: now.Truncate(time.Second)}
	}
}

// writeStatus stores the HPA's status if it changed.
func (c *Controller) writeStatus(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, orig *autoscalingv2.HorizontalPodAutoscalerStatus) error {
	if apiequality.Semantic.DeepEqual(orig, &hpa.Status) {
		return nil
	}
	res, err := c.reg.Update(ctx, registry.HorizontalPodAutoscalers, hpa.Namespace, hpa.Name, "status", func(cur store.Object) (store.Object, error) {
		h := cur.(*autoscalingv2.HorizontalPodAutoscaler)
		if h.UID != hpa.UID {
			return nil, controller.ErrClaimGone
		}
		h.Status = *hpa.Status.DeepCopy()
		h.ResourceVersion = ""
		return h, nil
	}, registry.WriteOptions{})
	if errors.Is(err, controller.ErrClaimGone) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of hpa %s: %w", controller.Key(hpa), err)
	}
	c.echoes.Wrote(res.Object)
	return nil
}

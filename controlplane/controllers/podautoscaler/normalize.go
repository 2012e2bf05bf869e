package podautoscaler

import (
	"math"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// From a metric's recommendation to the replica count the HPA sets, as
// Kubernetes' horizontal.go normalizes it: within minReplicas and
// maxReplicas, stabilized over recent recommendations, and limited in rate
// (by the v2 behavior's policies, or without one by doubling, at least 4).

// The scale-up limit without a behavior.
const (
	scaleUpLimitFactor  = 2.0
	scaleUpLimitMinimum = 4.0
)

type recommendation struct {
	replicas int32
	at       time.Time
}

type scaleEvent struct {
	change   int32
	at       time.Time
	outdated bool
}

// history is what the normalization remembers of each HPA (by key): its
// recent recommendations and scale events. It lives in memory, as in
// Kubernetes; a new leader starts afresh.
type history struct {
	mu              sync.Mutex
	recommendations map[string][]recommendation
	up, down        map[string][]scaleEvent
}

func newHistory() *history {
	return &history{recommendations: map[string][]recommendation{}, up: map[string][]scaleEvent{}, down: map[string][]scaleEvent{}}
}

func (h *history) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.recommendations, key)
	delete(h.up, key)
	delete(h.down, key)
}

// seed records current as the first recommendation of an HPA seen for the
// first time, so that a restart does not scale down at once.
func (h *history) seed(key string, current int32, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.recommendations[key]; !ok {
		h.recommendations[key] = []recommendation{{current, now}}
	}
}

// limited is a replica count and why it is what it is, for the
// ScalingLimited condition.
type limited struct {
	replicas        int32
	reason, message string
}

// normalize turns a recommendation into the replica count to set, with the
// AbleToScale reason/message and the ScalingLimited outcome.
type normalizer struct {
	h *history
	// downscaleWindow is the scale-down stabilization without a behavior,
	// or when the behavior leaves it unset (Kubernetes' 5 minutes).
	downscaleWindow time.Duration
	now             time.Time
}

type normalized struct {
	replicas                    int32
	ableReason, ableMessage     string
	limitedTrue                 bool
	limitReason, limitedMessage string
}

func (n normalizer) normalize(hpa *autoscalingv2.HorizontalPodAutoscaler, key string, current, desired, minReplicas int32) normalized {
	var out normalized
	var stabilized int32
	var lim limited
	if b := hpa.Spec.Behavior; b == nil {
		stabilized = n.stabilize(key, desired)
		lim = boundReplicas(current, stabilized, minReplicas, hpa.Spec.MaxReplicas)
	} else {
		up, down := b.ScaleUp, b.ScaleDown
		downWindow := int32(n.downscaleWindow.Seconds())
		if down != nil && down.StabilizationWindowSeconds != nil {
			downWindow = *down.StabilizationWindowSeconds
		}
		var reason, message string
		stabilized, reason, message = n.stabilizeWithBehavior(key, current, desired, windowOf(up), downWindow)
		if stabilized != desired {
			out.ableReason, out.ableMessage = reason, message
		}
		lim = n.rateLimit(key, current, stabilized, minReplicas, hpa.Spec.MaxReplicas, up, down)
	}
	if out.ableReason == "" {
		if stabilized != desired {
			out.ableReason, out.ableMessage = "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"
		} else {
			out.ableReason, out.ableMessage = "ReadyForNewScale", "recommended size matches current size"
		}
	}
	out.replicas, out.limitReason, out.limitedMessage = lim.replicas, lim.reason, lim.message
	out.limitedTrue = lim.replicas != stabilized
	return out
}

func windowOf(r *autoscalingv2.HPAScalingRules) int32 {
	if r == nil || r.StabilizationWindowSeconds == nil {
		return 0
	}
	return *r.StabilizationWindowSeconds
}

// stabilize is the highest recommendation within the scale-down window
// (the v1 behavior), recording desired.
func (n normalizer) stabilize(key string, desired int32) int32 {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	highest := desired
	cutoff := n.now.Add(-n.downscaleWindow)
	old := -1
	recs := n.h.recommendations[key]
	for i, r := range recs {
		if r.at.Before(cutoff) {
			old = i
		} else if r.replicas > highest {
			highest = r.replicas
		}
	}
	if old >= 0 {
		recs[old] = recommendation{desired, n.now}
	} else {
		n.h.recommendations[key] = append(recs, recommendation{desired, n.now})
	}
	return highest
}

// stabilizeWithBehavior keeps the count between the lowest recommendation
// of the scale-up window and the highest of the scale-down window.
func (n normalizer) stabilizeWithBehavior(key string, current, desired, upWindow, downWindow int32) (int32, string, string) {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	upCutoff := n.now.Add(-time.Duration(upWindow) * time.Second)
	downCutoff := n.now.Add(-time.Duration(downWindow) * time.Second)
	up, down := desired, desired
	old := -1
	recs := n.h.recommendations[key]
	for i, r := range recs {
		if r.at.After(upCutoff) {
			up = min(up, r.replicas)
		}
		if r.at.After(downCutoff) {
			down = max(down, r.replicas)
		}
		if r.at.Before(upCutoff) && r.at.Before(downCutoff) {
			old = i
		}
	}
	rec := max(current, up)
	rec = min(rec, down)
	if old >= 0 {
		recs[old] = recommendation{desired, n.now}
	} else {
		n.h.recommendations[key] = append(recs, recommendation{desired, n.now})
	}
	if desired >= current {
		return rec, "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation"
	}
	return rec, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"
}

// boundReplicas keeps desired within minReplicas, maxReplicas and (without
// a behavior) the scale-up limit.
func boundReplicas(current, desired, minReplicas, maxReplicas int32) limited {
	upLimit := int32(math.Max(scaleUpLimitFactor*float64(current), scaleUpLimitMinimum))
	maxAllowed, reason, message := maxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
	if maxReplicas > upLimit {
		maxAllowed, reason, message = upLimit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
	}
	switch {
	case desired < minReplicas:
		return limited{minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"}
	case desired > maxAllowed:
		return limited{maxAllowed, reason, message}
	}
	return limited{desired, "DesiredWithinRange", "the desired count is within the acceptable range"}
}

// rateLimit keeps desired within minReplicas, maxReplicas and what the
// behavior's policies allow over their periods.
func (n normalizer) rateLimit(key string, current, desired, minReplicas, maxReplicas int32, up, down *autoscalingv2.HPAScalingRules) limited {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	switch {
	case desired > current:
		limit := max(current, n.upLimit(current, n.h.up[key], n.h.down[key], up))
		maxAllowed, reason, message := maxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		if maxAllowed > limit {
			maxAllowed, reason, message = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
		if desired > maxAllowed {
			return limited{maxAllowed, reason, message}
		}
	case desired < current:
		limit := min(current, n.downLimit(current, n.h.up[key], n.h.down[key], down))
		minAllowed, reason, message := minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		if minAllowed < limit {
			minAllowed, reason, message = limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
		if desired < minAllowed {
			return limited{minAllowed, reason, message}
		}
	}
	return limited{desired, "DesiredWithinRange", "the desired count is within the acceptable range"}
}

// upLimit is the most replicas the scale-up policies allow now.
func (n normalizer) upLimit(current int32, ups, downs []scaleEvent, r *autoscalingv2.HPAScalingRules) int32 {
	if r == nil || (r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.DisabledPolicySelect) {
		return current
	}
	// Max picks the policy that allows the biggest change, Min the
	// smallest.
	pick, result := maxInt32, int32(math.MinInt32)
	if r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.MinChangePolicySelect {
		pick, result = minInt32, int32(math.MaxInt32)
	}
	for _, p := range r.Policies {
		start := current - n.changed(p.PeriodSeconds, ups) + n.changed(p.PeriodSeconds, downs)
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start + p.Value
		} else {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// downLimit is the fewest replicas the scale-down policies allow now.
func (n normalizer) downLimit(current int32, ups, downs []scaleEvent, r *autoscalingv2.HPAScalingRules) int32 {
	if r == nil || (r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.DisabledPolicySelect) {
		return current
	}
	pick, result := minInt32, int32(math.MaxInt32)
	if r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.MinChangePolicySelect {
		pick, result = maxInt32, int32(math.MinInt32)
	}
	for _, p := range r.Policies {
		start := current - n.changed(p.PeriodSeconds, ups) + n.changed(p.PeriodSeconds, downs)
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start - p.Value
		} else {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// changed is the replicas added (or removed) by events within the period.
func (n normalizer) changed(periodSeconds int32, events []scaleEvent) int32 {
	cutoff := n.now.Add(-time.Duration(periodSeconds) * time.Second)
	var sum int32
	for _, e := range events {
		if e.at.After(cutoff) && !e.outdated {
			sum += e.change
		}
	}
	return sum
}

// record notes a rescale from prev to next for the behavior's rate limits.
func (n normalizer) record(b *autoscalingv2.HorizontalPodAutoscalerBehavior, key string, prev, next int32) {
	if b == nil || prev == next {
		return
	}
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	events, rules, change := n.h.up, b.ScaleUp, next-prev
	if next < prev {
		events, rules, change = n.h.down, b.ScaleDown, prev-next
	}
	var longest int32
	if rules != nil {
		for _, p := range rules.Policies {
			longest = max(longest, p.PeriodSeconds)
		}
	}
	cutoff := n.now.Add(-time.Duration(longest) * time.Second)
	list := events[key]
	reuse := -1
	for i := range list {
		if list[i].at.Before(cutoff) {
			list[i].outdated = true
		}
		if list[i].outdated {
			reuse = i
		}
	}
	e := scaleEvent{change: change, at: n.now}
	if reuse >= 0 {
		list[reuse] = e
	} else {
		events[key] = append(list, e)
	}
}

// condition sets condition t of hpa, as Kubernetes' setCondition: the
// transition time moves only when the status does.
func setCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) {
	conds := hpa.Status.Conditions
	i := 0
	for ; i < len(conds) && conds[i].Type != t; i++ {
	}
	if i == len(conds) {
		conds = append(conds, autoscalingv2.HorizontalPodAutoscalerCondition{Type: t})
	}
	c := &conds[i]
	if c.Status != status {
		c.LastTransitionTime.Time = now.Truncate(time.Second)
	}
	c.Status, c.Reason, c.Message = status, reason, message
	hpa.Status.Conditions = conds
}

func maxInt32(a, b int32) int32 { return max(a, b) }
func minInt32(a, b int32) int32 { return min(a, b) }

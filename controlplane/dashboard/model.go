package dashboard

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/xds/translate"
)

// The views are what the page shows, as JSON. They are built once per
// snapshot from the cached objects and shared by every viewer.

type nodeView struct {
	Name          string  `json:"name"`
	Ready         bool    `json:"ready"`
	Unschedulable bool    `json:"unschedulable,omitempty"`
	CPUCapacity   float64 `json:"cpuCap"` // cores allocatable
	MemCapacity   int64   `json:"memCap"` // bytes allocatable
	// Load is the node agent's last report, for viewers who may read it.
	Load *nodeLoad `json:"load,omitempty"`
}

type nodeLoad struct {
	CPU    float64 `json:"cpu"`
	Memory int64   `json:"mem"`
	Pods   int     `json:"pods"`
	// Stale is set when the Lease was not renewed for three intervals.
	Stale bool `json:"stale,omitempty"`
}

type serviceView struct {
	Namespace string   `json:"ns"`
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	ClusterIP string   `json:"ip,omitempty"`
	Ports     []string `json:"ports,omitempty"`
	// Endpoints is nil for viewers who may not list endpointslices.
	Endpoints []endpointView `json:"eps,omitempty"`
}

type endpointView struct {
	IP          string `json:"ip"`
	Pod         string `json:"pod,omitempty"`
	Node        string `json:"node,omitempty"`
	Ready       bool   `json:"ready"`
	Terminating bool   `json:"term,omitempty"`
	// Weight is the EDS weight served for the endpoint.
	Weight uint32 `json:"w"`
	// The traffic its clients report (api.EndpointLoad): requests per
	// second, in flight, the failed fraction, the mean response time in
	// seconds, and how many reporters report it (0: no traffic figures).
	RPS       float64 `json:"rps"`
	InFlight  float64 `json:"inflight"`
	ErrorRate float64 `json:"err"`
	Latency   float64 `json:"lat"`
	Reporters int     `json:"rep"`
}

type deploymentView struct {
	Namespace string `json:"ns"`
	Name      string `json:"name"`
	Desired   int32  `json:"desired"`
	Updated   int32  `json:"updated"`
	Ready     int32  `json:"ready"`
	Available int32  `json:"available"`
	// Done is set when the rollout is complete: the newest generation
	// observed and every desired replica updated and available.
	Done bool `json:"done"`
	// Stalled is the Progressing condition's reason when it is False
	// (ProgressDeadlineExceeded).
	Stalled string `json:"stalled,omitempty"`
}

type eventView struct {
	Namespace string `json:"ns"`
	Type      string `json:"type"`
	Reason    string `json:"reason"`
	Object    string `json:"object"`
	Message   string `json:"msg"`
	Count     int32  `json:"count,omitempty"`
	Time      string `json:"time"`
	time      time.Time
}

// maxMessage bounds an event message the page shows.
const maxMessage = 300

func nodeViewOf(n *corev1.Node) nodeView {
	v := nodeView{Name: n.Name, Unschedulable: n.Spec.Unschedulable}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			v.Ready = c.Status == corev1.ConditionTrue
		}
	}
	res := n.Status.Allocatable
	if len(res) == 0 {
		res = n.Status.Capacity
	}
	if q, ok := res[corev1.ResourceCPU]; ok {
		v.CPUCapacity = float64(q.MilliValue()) / 1000
	}
	if q, ok := res[corev1.ResourceMemory]; ok {
		v.MemCapacity = q.Value()
	}
	return v
}

// nodeLoadOf is the report on a node's Lease, if it carries a valid one.
func nodeLoadOf(l *coordinationv1.Lease, now time.Time) (*nodeLoad, bool) {
	r, ok, err := api.LoadReportOf(l)
	if !ok || err != nil {
		return nil, false
	}
	stale := l.Spec.RenewTime == nil || now.Sub(l.Spec.RenewTime.Time) > 3*api.LoadInterval
	return &nodeLoad{CPU: r.CPU, Memory: r.Memory, Pods: r.Pods, Stale: stale}, true
}

func serviceViewOf(s *corev1.Service) serviceView {
	v := serviceView{Namespace: s.Namespace, Name: s.Name, Type: string(s.Spec.Type)}
	if v.Type == "" {
		v.Type = string(corev1.ServiceTypeClusterIP)
	}
	if s.Spec.ClusterIP != corev1.ClusterIPNone {
		v.ClusterIP = s.Spec.ClusterIP
	}
	for _, p := range s.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		v.Ports = append(v.Ports, strconv.Itoa(int(p.Port))+"/"+string(proto))
	}
	return v
}

// endpointsOf lists the distinct endpoint IPs of a Service's slices, as
// the xDS feed reads them (the first address of each endpoint), with the
// traffic reported for them and the weight served, sorted by pod and IP.
func endpointsOf(slices_ []*discoveryv1.EndpointSlice, traffic api.TrafficReport, weights map[string]uint32) []endpointView {
	seen := map[string]bool{}
	out := []endpointView{}
	for _, sl := range slices_ {
		for _, ep := range sl.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil || seen[a.String()] {
				continue
			}
			ip := a.String()
			seen[ip] = true
			v := endpointView{
				IP:          ip,
				Ready:       ep.Conditions.Ready == nil || *ep.Conditions.Ready,
				Terminating: ep.Conditions.Terminating != nil && *ep.Conditions.Terminating,
				Weight:      weightOf(weights, ip),
			}
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				v.Pod = ep.TargetRef.Name
			}
			if ep.NodeName != nil {
				v.Node = *ep.NodeName
			}
			if l, ok := traffic[ip]; ok {
				v.RPS, v.InFlight, v.ErrorRate, v.Latency, v.Reporters = l.RPS, l.InFlight, l.ErrorRate, l.Latency, l.Reporters
			}
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b endpointView) int {
		return cmp.Or(cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.IP, b.IP))
	})
	return out
}

// weightOf is the weight EDS serves for ip: the leader's (capped as the
// translator caps it), else neutral.
func weightOf(weights map[string]uint32, ip string) uint32 {
	if w := weights[ip]; w > 0 {
		return min(w, translate.MaxWeight)
	}
	return translate.NeutralWeight
}

func deploymentViewOf(d *appsv1.Deployment) deploymentView {
	v := deploymentView{Namespace: d.Namespace, Name: d.Name, Desired: 1,
		Updated: d.Status.UpdatedReplicas, Ready: d.Status.ReadyReplicas, Available: d.Status.AvailableReplicas}
	if d.Spec.Replicas != nil {
		v.Desired = *d.Spec.Replicas
	}
	v.Done = d.Status.ObservedGeneration >= d.Generation && v.Updated == v.Desired &&
		v.Available == v.Desired && d.Status.Replicas == v.Desired
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
			v.Stalled = c.Reason
		}
	}
	return v
}

func eventViewOf(e *corev1.Event) eventView {
	t := e.LastTimestamp.Time
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		t = e.Series.LastObservedTime.Time
	case t.IsZero() && !e.EventTime.IsZero():
		t = e.EventTime.Time
	case t.IsZero():
		t = e.CreationTimestamp.Time
	}
	msg := e.Message
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	count := e.Count
	if e.Series != nil {
		count = e.Series.Count
	}
	return eventView{
		Namespace: e.Namespace, Type: e.Type, Reason: e.Reason, Message: msg, Count: count,
		Object: e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name,
		Time:   t.UTC().Format(time.RFC3339), time: t,
	}
}

package nodeagent

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Event reasons, kubelet's.
const (
	eventCreated          = "Created"
	eventStarted          = "Started"
	eventFailed           = "Failed"
	eventBackOff          = "BackOff"
	eventKilling          = "Killing"
	eventUnhealthy        = "Unhealthy"
	eventPulling          = "Pulling"
	eventPulled           = "Pulled"
	eventSandbox          = "FailedCreatePodSandBox"
	eventFailedMount      = "FailedMount"
	eventFailedPullSecret = "FailedToRetrieveImagePullSecret"
	eventPostStartFailed  = "FailedPostStartHook"
	eventPreStopFailed    = "FailedPreStopHook"
	eventVolumes          = "FailedConfig"
)

// eventQueue bounds the events waiting to be written; more are dropped, as
// client-go's broadcaster drops them. The same event (pod, container,
// reason and message) is written at most once per eventInterval.
const (
	eventQueue    = 256
	eventInterval = 5 * time.Second
	eventTimeout  = 5 * time.Second
)

// recorder writes core/v1 Events about pods (kubectl describe pod shows
// them) in the background. Writing them is best effort.
type recorder struct {
	client kubernetes.Interface
	node   string
	log    *slog.Logger
	ch     chan *corev1.Event

	mu   sync.Mutex
	last map[string]time.Time
}

func newRecorder(client kubernetes.Interface, node string, log *slog.Logger) *recorder {
	return &recorder{client: client, node: node, log: log, ch: make(chan *corev1.Event, eventQueue), last: map[string]time.Time{}}
}

// pod records an event about a pod's container ("" for the pod itself).
func (r *recorder) pod(pod *corev1.Pod, container, typ, reason, format string, args ...any) {
	if r == nil || pod == nil {
		return
	}
	now := time.Now()
	msg := fmt.Sprintf(format, args...)
	key := string(pod.UID) + "/" + container + "/" + reason + "/" + msg
	r.mu.Lock()
	if t, ok := r.last[key]; ok && now.Sub(t) < eventInterval {
		r.mu.Unlock()
		return
	}
	r.last[key] = now
	if len(r.last) > 4*eventQueue {
		for k, t := range r.last {
			if now.Sub(t) >= eventInterval {
				delete(r.last, k)
			}
		}
	}
	r.mu.Unlock()
	ref := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
	if container != "" {
		ref.FieldPath = fmt.Sprintf("spec.containers{%s}", container)
	}
	ts := metav1.NewTime(now)
	e := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name + "." + strconv.FormatInt(now.UnixNano(), 16)},
		InvolvedObject:      ref,
		Reason:              reason,
		Message:             msg,
		Source:              corev1.EventSource{Component: "shoal-nodeagent", Host: r.node},
		FirstTimestamp:      ts,
		LastTimestamp:       ts,
		Count:               1,
		Type:                typ,
		ReportingController: "shoal.io/nodeagent",
		ReportingInstance:   r.node,
	}
	select {
	case r.ch <- e:
	default:
	}
}

func (r *recorder) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-r.ch:
			cctx, cancel := context.WithTimeout(ctx, eventTimeout)
			_, err := r.client.CoreV1().Events(e.Namespace).Create(cctx, e, metav1.CreateOptions{})
			cancel()
			if err != nil && ctx.Err() == nil {
				r.log.Debug("write event", "reason", e.Reason, "pod", e.InvolvedObject.Name, "err", err)
			}
		}
	}
}

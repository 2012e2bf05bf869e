package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// kubeletSim stands in for the node agent, which a later issue builds: until
// then nothing starts pods, so they would never become Ready. It watches all
// pods and, delay after one appears, reports it Running and Ready with a pod
// IP through the pods/status subresource, as a node agent that started it
// would.
type kubeletSim struct {
	cs     kubernetes.Interface
	delay  time.Duration
	ctx    context.Context
	nextIP atomic.Uint32
	wg     sync.WaitGroup
}

// startKubeletSim runs a simulated node agent until the test ends.
func startKubeletSim(t *testing.T, cs kubernetes.Interface, delay time.Duration) *kubeletSim {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &kubeletSim{cs: cs, delay: delay, ctx: ctx}
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: k.onAdd}); err != nil {
		cancel()
		t.Fatalf("kubelet sim: %v", err)
	}
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
		k.wg.Wait()
	})
	if !cache.WaitForCacheSync(t.Context().Done(), inf.HasSynced) {
		t.Fatal("kubelet sim: pod informer did not sync")
	}
	return k
}

func (k *kubeletSim) onAdd(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.DeletionTimestamp != nil || podReady(pod) {
		return
	}
	k.wg.Add(1)
	time.AfterFunc(k.delay, func() {
		defer k.wg.Done()
		if k.ctx.Err() == nil {
			k.markReady(pod.Namespace, pod.Name, pod.UID)
		}
	})
}

// markReady reports the pod started; a pod deleted (or replaced under its
// name) meanwhile is left alone.
func (k *kubeletSim) markReady(ns, name string, uid types.UID) {
	n := k.nextIP.Add(1)
	ip := fmt.Sprintf("10.244.%d.%d", n/250, 1+n%250)
	ctx, cancel := context.WithTimeout(k.ctx, 10*time.Second)
	defer cancel()
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := k.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.UID != uid || p.DeletionTimestamp != nil {
			return nil
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		p.Status.StartTime = &now
		p.Status.ContainerStatuses = nil
		for _, c := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, Ready: true, Started: new(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			})
		}
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		_, err = k.cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// podReady reports whether the pod is Ready and not being deleted.
func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

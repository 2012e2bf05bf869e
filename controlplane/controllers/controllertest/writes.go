package controllertest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/controller"
	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// Create creates obj, a kind of info, through the registry.
func (e *Env) Create(info *registry.Info, obj store.Object) store.Object {
	e.T.Helper()
	res, err := e.Reg.Create(e.Ctx, info, obj, registry.WriteOptions{})
	if err != nil {
		e.T.Fatalf("create %s %s: %v", info.Kind, obj.GetName(), err)
	}
	return res.Object
}

// Delete deletes the object name of namespace default.
func (e *Env) Delete(info *registry.Info, name string) {
	e.T.Helper()
	if _, err := e.Reg.Delete(e.Ctx, info, "default", name, nil, registry.WriteOptions{}); err != nil {
		e.T.Fatalf("delete %s %s: %v", info.Kind, name, err)
	}
}

// Service creates svc, in namespace default if it names none.
func (e *Env) Service(svc *corev1.Service) *corev1.Service {
	e.T.Helper()
	if svc.Namespace == "" {
		svc.Namespace = "default"
	}
	return e.Create(registry.Services, svc).(*corev1.Service)
}

// CreatePod creates a pod of namespace default whose container has ports;
// edit, if given, changes it first.
func (e *Env) CreatePod(name string, lbls map[string]string, ports []corev1.ContainerPort, edit ...func(*corev1.Pod)) {
	e.T.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Command: []string{"/bin/app"}, Ports: ports}}},
	}
	for _, f := range edit {
		f(p)
	}
	e.Create(registry.Pods, p)
}

// SetPodStatus sets pod name running at ip, ready or not, through
// pods/status.
func (e *Env) SetPodStatus(name, ip string, ready bool) {
	e.T.Helper()
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	_, err := e.Reg.Update(e.Ctx, registry.Pods, "default", name, "status", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.T.Fatalf("set status of pod %s: %v", name, err)
	}
}

// Relabel sets the labels of pod name.
func (e *Env) Relabel(name string, lbls map[string]string) {
	e.T.Helper()
	_, err := e.Reg.Update(e.Ctx, registry.Pods, "default", name, "", func(cur store.Object) (store.Object, error) {
		cur.SetLabels(lbls)
		cur.SetResourceVersion("")
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.T.Fatalf("relabel pod %s: %v", name, err)
	}
}

// MarkReady reports pod running and ready at an address of its own, as its
// node agent would. It fails with controller.ErrClaimGone if the pod was
// replaced by a namesake.
func (e *Env) MarkReady(pod *corev1.Pod) error {
	n := e.podIP.Add(1)
	ip := fmt.Sprintf("10.244.%d.%d", n/250, 1+n%250)
	_, err := e.Reg.Update(e.Ctx, registry.Pods, pod.Namespace, pod.Name, "status", func(cur store.Object) (store.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID != pod.UID {
			return nil, controller.ErrClaimGone
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		p.ResourceVersion = ""
		return p, nil
	}, registry.WriteOptions{})
	return err
}

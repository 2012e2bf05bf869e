package main

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const benchNS = "bench"

// apiClients are c client-go clientsets, each with its own connection (as c
// separate clients would have), that never throttle themselves.
type apiClients struct {
	cfg *rest.Config
	cs  []*kubernetes.Clientset
}

func newAPIClients(kubeconfig string, c int) (*apiClients, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = -1, 1<<20
	cfg.Timeout = 30 * time.Second
	a := &apiClients{cfg: cfg}
	for range c {
		cs, err := a.newClientset()
		if err != nil {
			return nil, err
		}
		a.cs = append(a.cs, cs)
	}
	return a, nil
}

// newClientset returns a clientset with a connection of its own: client-go
// shares one transport between equal configs, but not between configs with
// distinct Dial functions.
func (a *apiClients) newClientset() (*kubernetes.Clientset, error) {
	cfg := rest.CopyConfig(a.cfg)
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	cfg.Dial = d.DialContext
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	return cs, nil
}

func (a *apiClients) createNamespace(ctx context.Context, name string) error {
	_, err := a.cs[0].CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// benchService is a typical Service: about 700 bytes of JSON once the
// server has defaulted it and allocated its ClusterIP.
// With selector false it selects nothing, so the controllers write nothing
// for it and only the API server's own work is measured.
func benchService(name string, selector bool) *corev1.Service {
	labels := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shoal-bench"}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: selectorIf(selector, labels),
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
				{Name: "grpc", Port: 9090, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

func selectorIf(on bool, labels map[string]string) map[string]string {
	if on {
		return labels
	}
	return nil
}

// createServices POSTs n Services named prefix-NNNNNN (each given a
// ClusterIP) from c clients.
func (a *apiClients) createServices(ctx context.Context, prefix string, n, c int, selector bool) (throughput, error) {
	return measure(ctx, n, c, func(ctx context.Context, w, i int) error {
		return a.create(ctx, w, fmt.Sprintf("%s-%06d", prefix, i), selector)
	})
}

// create creates one Service and checks that it got a ClusterIP.
func (a *apiClients) create(ctx context.Context, w int, name string, selector bool) error {
	svc, err := a.cs[w].CoreV1().Services(benchNS).Create(ctx, benchService(name, selector), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create service %s: %w", name, err)
	}
	if svc.Spec.ClusterIP == "" {
		return fmt.Errorf("service %s got no ClusterIP", name)
	}
	return nil
}

// warmUp has every client connect (TLS handshake) and create one Service,
// untimed; deleteServices removes them with the rest.
func (a *apiClients) warmUp(ctx context.Context, prefix string) error {
	for w := range a.cs {
		if err := a.create(ctx, w, fmt.Sprintf("%s-%06d", prefix, w), false); err != nil {
			return err
		}
	}
	return nil
}

// deleteServices deletes the n Services prefix-NNNNNN from c clients.
func (a *apiClients) deleteServices(ctx context.Context, prefix string, n, c int) error {
	_, err := measure(ctx, n, c, func(ctx context.Context, w, i int) error {
		name := fmt.Sprintf("%s-%06d", prefix, i)
		if err := a.cs[w].CoreV1().Services(benchNS).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete service %s: %w", name, err)
		}
		return nil
	})
	return err
}

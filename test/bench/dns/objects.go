package main

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// namespaces the services are spread over.
const namespaces = 10

// object is a created service, what queries are made of.
type object struct {
	name, namespace string
	clusterIP       string // "" when headless
	endpoints       int    // ready endpoints in its slice
}

func (o object) fqdn() string { return fmt.Sprintf("%s.%s.svc.cluster.local.", o.name, o.namespace) }

// createObjects creates n selector-less services, every tenth headless,
// each with one EndpointSlice of perService ready endpoints.
func createObjects(ctx context.Context, kubeconfig string, n, perService int) ([]object, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 5000, 5000
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	for i := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i)}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create namespace: %w", err)
		}
	}
	objs := make([]object, n)
	work := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				o, err := createService(ctx, cs, i, perService)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				objs[i] = o
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return objs, nil
}

func createService(ctx context.Context, cs kubernetes.Interface, i, perService int) (object, error) {
	o := object{name: fmt.Sprintf("svc-%d", i), namespace: fmt.Sprintf("bench-%d", i%namespaces), endpoints: perService}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: o.name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	if i%10 == 0 {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	created, err := cs.CoreV1().Services(o.namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return o, fmt.Errorf("create service %s: %w", o.name, err)
	}
	if svc.Spec.ClusterIP == "" {
		o.clusterIP = created.Spec.ClusterIP
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: o.name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: o.name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo[int32](8080), Protocol: ptrTo(corev1.ProtocolTCP)}},
	}
	base := netip.MustParseAddr("10.244.0.0").As4()
	for j := range perService {
		k := i*perService + j + 1
		ip := netip.AddrFrom4([4]byte{base[0], base[1] + byte(k>>16), byte(k >> 8), byte(k)})
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)},
		})
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(o.namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return o, fmt.Errorf("create endpointslice %s: %w", slice.Name, err)
	}
	return o, nil
}

func ptrTo[T any](v T) *T { return &v }

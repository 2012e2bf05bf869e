package nodeagent

import (
	"context"
	"fmt"
	"maps"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// objectTimeout bounds one read of a ConfigMap, Secret or Service for a
// container's environment.
const objectTimeout = 10 * time.Second

// apiObjects reads the ConfigMaps and Secrets of a pod's namespace from the
// API server (the node may read those its pods name).
type apiObjects struct {
	ctx       context.Context
	client    kubernetes.Interface
	namespace string
}

var _ envObjects = apiObjects{}

func (o apiObjects) configMap(name string) (map[string]string, error) {
	if o.client == nil {
		return nil, fmt.Errorf("configmap %q %w", name, ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(o.ctx, objectTimeout)
	defer cancel()
	cm, err := o.client.CoreV1().ConfigMaps(o.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("configmap %q %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %q: %w", name, err)
	}
	data := maps.Clone(cm.Data)
	if data == nil {
		data = map[string]string{}
	}
	for k, v := range cm.BinaryData {
		data[k] = string(v)
	}
	return data, nil
}

func (o apiObjects) secret(name string) (map[string][]byte, error) {
	if o.client == nil {
		return nil, fmt.Errorf("secret %q %w", name, ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(o.ctx, objectTimeout)
	defer cancel()
	s, err := o.client.CoreV1().Secrets(o.namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("secret %q %w", name, ErrNotFound)
	}
	if err != nil {
		// The API's words only: a Secret's data never goes into errors.
		return nil, fmt.Errorf("get secret %q: %w", name, err)
	}
	data := maps.Clone(s.Data)
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data, nil
}

// masterServiceEnv is the environment of the kubernetes Service
// (default/kubernetes), which the kubelet gives every container: nil when
// it cannot be read.
func (a *Agent) masterServiceEnv(ctx context.Context) []envVar {
	if a.client == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, objectTimeout)
	defer cancel()
	svc, err := a.client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		a.log.Debug("the kubernetes Service for containers' environment", "err", err)
		return nil
	}
	return serviceEnv(svc.Name, svc.Spec.ClusterIP, svc.Spec.Ports)
}

// envContext is the context of the worker's API reads.
func (w *podWorker) envContext() context.Context {
	if w.a.runCtx != nil {
		return w.a.runCtx
	}
	return context.Background()
}

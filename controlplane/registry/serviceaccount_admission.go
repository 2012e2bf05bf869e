package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// What Kubernetes' ServiceAccount admission plugin gives a pod: the
// account's name, and where its token, the cluster CA and the namespace
// appear in every container.
const (
	DefaultServiceAccountName = "default"
	// TokenVolumePrefix starts the name of the volume admission adds:
	// kube-api-access-<5 random characters>.
	TokenVolumePrefix = "kube-api-access-"
	// TokenMountPath is where every container sees that volume.
	TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// RootCAConfigMap is the ConfigMap in every namespace that holds the
	// cluster CA (key ca.crt), published by the root CA controller.
	RootCAConfigMap = "kube-root-ca.crt"
	// tokenVolumeExpirationSeconds is the kubelet's token request, which
	// the API server extends (see package serviceaccount).
	tokenVolumeExpirationSeconds int64 = 60*60 + 7
)

// ServiceAccountAdmission is Kubernetes' ServiceAccount admission for pods
// being created: it defaults spec.serviceAccountName to "default", refuses
// a pod whose ServiceAccount does not exist, copies the account's
// imagePullSecrets to a pod that has none, and, unless the pod or the
// account sets automountServiceAccountToken to false, adds the projected
// kube-api-access-<random> volume (token, ca.crt, namespace) and mounts it
// read-only at TokenMountPath in every container and init container.
type ServiceAccountAdmission struct {
	// Cache, if set, holds ServiceAccounts; a miss is read from etcd.
	Cache *store.Cache
	// DefaultRetries and RetryInterval bound the wait for the "default"
	// account of a new namespace, which the serviceaccount controller
	// makes moments after the namespace (Kubernetes tries 10 times, 100 to
	// 200 ms apart). Zero values take those.
	DefaultRetries int
	RetryInterval  time.Duration
}

// admit applies the admission of info's kind to obj, being created.
func (r *Registry) admit(ctx context.Context, info *Info, obj store.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok || info != Pods || r.ServiceAccountAdmission == nil {
		return nil
	}
	return r.ServiceAccountAdmission.admitPod(ctx, r.Store, pod)
}

func (a *ServiceAccountAdmission) admitPod(ctx context.Context, st *store.Store, pod *corev1.Pod) error {
	spec := &pod.Spec
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = DefaultServiceAccountName
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
	sa, err := a.serviceAccount(ctx, st, pod.Namespace, spec.ServiceAccountName)
	if err != nil {
		return apierrors.NewForbidden(Pods.GroupResource(), pod.Name,
			fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, spec.ServiceAccountName, err))
	}
	if automount(sa, spec) {
		mountToken(spec)
	}
	if len(spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		copy(spec.ImagePullSecrets, sa.ImagePullSecrets)
	}
	return nil
}

// serviceAccount finds namespace/name in the cache, else in etcd, where the
// default account is looked for a little longer.
func (a *ServiceAccountAdmission) serviceAccount(ctx context.Context, st *store.Store, namespace, name string) (*corev1.ServiceAccount, error) {
	if a.Cache != nil {
		if obj, ok := a.Cache.Get(namespace, name); ok {
			return obj.(*corev1.ServiceAccount), nil
		}
	}
	attempts := 1
	if name == DefaultServiceAccountName {
		attempts = a.DefaultRetries
		if attempts == 0 {
			attempts = 10
		}
	}
	interval := a.RetryInterval
	if interval == 0 {
		interval = time.Duration(100+rand.IntN(100)) * time.Millisecond
	}
	for i := range attempts {
		if i > 0 {
			select {
			case <-time.After(interval):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		obj, err := st.Get(ctx, ServiceAccounts.Resource, namespace, name)
		if err == nil {
			return obj.(*corev1.ServiceAccount), nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccount"}, name)
}

// automount: the pod's choice wins, then the account's; the default is yes.
func automount(sa *corev1.ServiceAccount, spec *corev1.PodSpec) bool {
	if spec.AutomountServiceAccountToken != nil {
		return *spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountToken adds the token volume (unless the pod has one) and mounts it
// in every container that does not mount something at TokenMountPath.
func mountToken(spec *corev1.PodSpec) {
	name, has := "", false
	for _, v := range spec.Volumes {
		if strings.HasPrefix(v.Name, TokenVolumePrefix) {
			name, has = v.Name, true
			break
		}
	}
	if name == "" {
		name = TokenVolumePrefix + utilrand.String(5)
	}
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: TokenMountPath}
	needed := false
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			if !mountsTokenPath(&cs[i]) {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
				needed = true
			}
		}
	}
	if needed && !has {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()}})
	}
}

func mountsTokenPath(c *corev1.Container) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == TokenMountPath {
			return true
		}
	}
	return false
}

// TokenVolumeSource is the projected source of the token volume, exactly
// as Kubernetes writes it.
func TokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: new(corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: new(tokenVolumeExpirationSeconds)}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}
}

// IsTokenVolume reports whether v is the volume ServiceAccount admission
// adds, which the node agent fills and warnings leave alone.
func IsTokenVolume(v *corev1.Volume) bool {
	if !strings.HasPrefix(v.Name, TokenVolumePrefix) || v.Projected == nil {
		return false
	}
	for _, s := range v.Projected.Sources {
		if s.ServiceAccountToken != nil {
			return true
		}
	}
	return false
}

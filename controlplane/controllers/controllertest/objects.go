package controllertest

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Pod is a pod of namespace default labelled lbls, not yet created.
func Pod(name string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Command: []string{"/bin/sleep", "3600"}}}},
	}
}

// ReplicaSet is a ReplicaSet of n pods labelled app=name, not yet created.
func ReplicaSet(name string, n int32) *appsv1.ReplicaSet {
	lbls := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: lbls},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbls}, Spec: Pod("", nil).Spec},
		},
	}
}

// Deployment is a Deployment of replicas pods labelled app=name, whose
// template sets VERSION=1, changed by edit; not yet created.
func Deployment(name string, replicas int32, edit ...func(*appsv1.Deployment)) *appsv1.Deployment {
	lbls := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Command: []string{"/bin/sleep", "3600"}, Env: []corev1.EnvVar{{Name: "VERSION", Value: "1"}},
				}}},
			},
		},
	}
	for _, f := range edit {
		f(d)
	}
	return d
}

// HTTPService is a service selecting app=name (Service creates it in
// namespace default), port "http" 80 to the pods' port named "http".
func HTTPService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": "shop"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

// HTTPPort is a container port named "http".
func HTTPPort(n int32) []corev1.ContainerPort {
	return []corev1.ContainerPort{{Name: "http", ContainerPort: n}}
}

package registry_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store/storetest"
)

func admissionRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	r := newRegistry(t, storetest.StartEtcd(t), "")
	r.ServiceAccountAdmission = &registry.ServiceAccountAdmission{DefaultRetries: 3, RetryInterval: 10 * time.Millisecond}
	return r
}

func createSA(t *testing.T, r *registry.Registry, sa *corev1.ServiceAccount) {
	t.Helper()
	if _, err := r.Create(t.Context(), registry.ServiceAccounts, sa, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func podWith(name string, edit func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Command: []string{"/bin/true"}}},
			Containers:     []corev1.Container{{Name: "a", Command: []string{"/bin/sleep"}}, {Name: "b", Command: []string{"/bin/sleep"}}},
		}}
	if edit != nil {
		edit(p)
	}
	return p
}

// TestServiceAccountAdmission admits pods as Kubernetes' ServiceAccount
// plugin does.
func TestServiceAccountAdmission(t *testing.T) {
	r := admissionRegistry(t)
	ctx := t.Context()
	createSA(t, r, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "default"}})
	createSA(t, r, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "quiet"}, AutomountServiceAccountToken: new(false),
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}})

	res, err := r.Create(ctx, registry.Pods, podWith("plain", nil), registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		if strings.Contains(w, "volume") || strings.Contains(w, "serviceAccount") {
			t.Errorf("warning about what admission added: %q", w)
		}
	}
	p := res.Object.(*corev1.Pod)
	if p.Spec.ServiceAccountName != "default" || p.Spec.DeprecatedServiceAccount != "default" {
		t.Errorf("service account %q / %q, want default", p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount)
	}
	if len(p.Spec.Volumes) != 1 {
		t.Fatalf("volumes %+v", p.Spec.Volumes)
	}
	v := p.Spec.Volumes[0]
	if !strings.HasPrefix(v.Name, "kube-api-access-") || len(v.Name) != len("kube-api-access-")+5 {
		t.Errorf("volume name %q", v.Name)
	}
	got, _ := json.Marshal(v.VolumeSource)
	const want = `{"projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},` +
		`{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},` +
		`{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}`
	if string(got) != want {
		t.Errorf("volume source\n got %s\nwant %s", got, want)
	}
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if m := c.VolumeMounts; len(m) != 1 || m[0].Name != v.Name || !m[0].ReadOnly || m[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" {
			t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
		}
	}

	tests := []struct {
		name        string
		pod         *corev1.Pod
		wantVolumes int
		wantPull    string
	}{
		{"pod opts out", podWith("out", func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = new(false) }), 0, ""},
		{"account opts out", podWith("quiet", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "quiet" }), 0, "regcred"},
		{"pod overrides the account", podWith("loud", func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "quiet"
			p.Spec.AutomountServiceAccountToken = new(true)
		}), 1, "regcred"},
		{"deprecated field names the account", podWith("legacy", func(p *corev1.Pod) { p.Spec.DeprecatedServiceAccount = "quiet" }), 0, "regcred"},
		{"own pull secrets kept", podWith("own", func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "quiet"
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mine"}}
		}), 0, "mine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Create(ctx, registry.Pods, tt.pod, registry.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p := res.Object.(*corev1.Pod)
			if len(p.Spec.Volumes) != tt.wantVolumes {
				t.Errorf("volumes %+v, want %d", p.Spec.Volumes, tt.wantVolumes)
			}
			pull := ""
			if len(p.Spec.ImagePullSecrets) > 0 {
				pull = p.Spec.ImagePullSecrets[0].Name
			}
			if pull != tt.wantPull {
				t.Errorf("imagePullSecrets %+v, want %q", p.Spec.ImagePullSecrets, tt.wantPull)
			}
		})
	}

	// A container that mounts something at the path keeps it; the others
	// get the token.
	res, err = r.Create(ctx, registry.Pods, podWith("own-mount", func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: registry.TokenMountPath}}
	}), registry.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p = res.Object.(*corev1.Pod)
	if len(p.Spec.Volumes) != 2 || len(p.Spec.Containers[0].VolumeMounts) != 1 || p.Spec.Containers[0].VolumeMounts[0].Name != "mine" ||
		len(p.Spec.Containers[1].VolumeMounts) != 1 {
		t.Errorf("own mount: volumes %+v, mounts %+v", p.Spec.Volumes, p.Spec.Containers)
	}
}

func TestServiceAccountAdmissionRefuses(t *testing.T) {
	r := admissionRegistry(t)
	ctx := t.Context()
	_, err := r.Create(ctx, registry.Pods, podWith("p", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "ghost" }), registry.WriteOptions{})
	const want = `pods "p" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	// No default account (no controller here): refused after the retries.
	_, err = r.Create(ctx, registry.Pods, podWith("q", nil), registry.WriteOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `serviceaccount "default" not found`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := r.Store.Get(ctx, registry.Pods.Resource, "default", "q"); !apierrors.IsNotFound(err) {
		t.Errorf("a refused pod was stored: %v", err)
	}
	// The default account appearing while admission waits for it is found.
	go func() {
		time.Sleep(15 * time.Millisecond)
		createSA(t, r, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "default"}})
	}()
	r.ServiceAccountAdmission.DefaultRetries = 100
	if _, err := r.Create(ctx, registry.Pods, podWith("r", nil), registry.WriteOptions{}); err != nil {
		t.Fatalf("pod created while the default account appears: %v", err)
	}
}

package nodeagent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The files of configMap, secret, downwardAPI and projected volumes (the
// kube-api-access layout but its token), and the errors of missing ones.
func TestVolumeContents(t *testing.T) {
	objs := objects{
		cms:     map[string]map[string]string{"site": {"a.conf": "A", "b.conf": "B"}, "kube-root-ca.crt": {"ca.crt": "PEM"}},
		secrets: map[string]map[string][]byte{"db": {"password": []byte("s3cret")}},
	}
	cmVol := func(name string, items ...corev1.KeyToPath) corev1.VolumeSource {
		return corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Items: items}}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-0", UID: "u-1", Labels: map[string]string{"app": "web", "tier": "1"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}},
			Volumes: []corev1.Volume{
				{Name: "site", VolumeSource: cmVol("site")},
				{Name: "one", VolumeSource: cmVol("site", corev1.KeyToPath{Key: "b.conf", Path: "sub/b", Mode: new(int32(0o600))})},
				{Name: "db", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db", DefaultMode: new(int32(0o400))}}},
				{Name: "gone", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "nope", Optional: new(true)}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
				}}}},
				{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				}}}},
			},
		},
	}
	w := testWorker(t, pod)
	if err := w.writeVolumeContents(t.Context(), pod, objs, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		vol, path, data string
		mode            os.FileMode
	}{
		{"site", "a.conf", "A", 0o644},
		{"site", "b.conf", "B", 0o644},
		{"one", "sub/b", "B", 0o600},
		{"db", "password", "s3cret", 0o400},
		{"info", "labels", "app=\"web\"\ntier=\"1\"", 0o644},
		{"info", "mem", "64", 0o644},
		{"kube-api-access", "ca.crt", "PEM", 0o644},
		{"kube-api-access", "namespace", "shop", 0o644},
	} {
		p := filepath.Join(w.volumes.paths[f.vol], f.path)
		b, err := os.ReadFile(p)
		st, serr := os.Stat(p)
		if err != nil || serr != nil || string(b) != f.data || st.Mode().Perm() != f.mode {
			t.Errorf("%s/%s: %q %v, mode %v; want %q %v", f.vol, f.path, b, err, st.Mode().Perm(), f.data, f.mode)
		}
	}
	if _, err := os.Stat(filepath.Join(w.volumes.paths["one"], "a.conf")); !os.IsNotExist(err) {
		t.Errorf("a key not in items was written: %v", err)
	}

	for name, vol := range map[string]corev1.VolumeSource{
		`configmap "nope" not found`:                   cmVol("nope"),
		`configuration of configmap "site" has no key`: cmVol("site", corev1.KeyToPath{Key: "c.conf", Path: "c"}),
	} {
		bad := pod.DeepCopy()
		bad.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: vol}}
		w := testWorker(t, bad)
		if err := w.writeVolumeContents(t.Context(), bad, objs, time.Now()); err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), `volume "v"`) {
			t.Errorf("err %v, want one naming the volume and %q", err, name)
		}
	}
}

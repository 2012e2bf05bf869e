package nodeagent_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shoalmesh/shoal/internal/testenv"
)

// A running pod's configMap, secret, projected and downwardAPI volumes
// follow updates of the objects (and of the pod's labels) within seconds,
// without a restart, as the kubelet's do; a subPath mount keeps what it
// had, and an immutable ConfigMap is not followed.
func TestVolumesFollowUpdates(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	cms := e.cs.CoreV1().ConfigMaps("default")
	secrets := e.cs.CoreV1().Secrets("default")
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config"},
		Data: map[string]string{"mode": "v1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-secret"},
		Data: map[string][]byte{"password": []byte("first-pw")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "frozen"}, Immutable: new(true),
		Data: map[string]string{"k": "fixed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := e.pod("follows", corev1.Container{Name: "app", Image: e.box, Command: []string{"sleep", "3600"},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: "/config"},
			{Name: "secret", MountPath: "/secret"},
			{Name: "both", MountPath: "/both"},
			{Name: "info", MountPath: "/info"},
			{Name: "frozen", MountPath: "/frozen"},
			{Name: "config", MountPath: "/sub/mode", SubPath: "mode"},
		}})
	p.Spec.Volumes = []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "app-secret"}}},
		{Name: "both", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "app-secret"}}},
		}}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		}}}},
		{Name: "frozen", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "frozen"}}}},
	}
	e.create(p)
	pod := e.waitPod("follows", 30*time.Second, "running", runningReady)
	want := map[string]string{
		"/config/mode": "v1", "/secret/password": "first-pw", "/both/mode": "v1", "/both/password": "first-pw",
		"/sub/mode": "v1", "/frozen/k": "fixed", "/info/labels": `test="follows"`,
	}
	e.waitFiles(pod, 10*time.Second, want)

	// Update both objects and the pod's labels through the API.
	cm, err := cms.Get(ctx, "app-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["mode"] = "v2"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Patch(ctx, "app-secret", types.MergePatchType, []byte(`{"stringData":{"password":"second-pw"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.CoreV1().Pods("default").Patch(ctx, "follows", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"web"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	want["/config/mode"], want["/both/mode"] = "v2", "v2"
	want["/secret/password"], want["/both/password"] = "second-pw", "second-pw"
	want["/info/labels"] = "test=\"follows\"\ntier=\"web\""
	e.waitFiles(pod, 30*time.Second, want) // /sub/mode stays v1: a subPath mount is not updated
	t.Logf("volumes updated %v after the API writes", time.Since(start).Round(time.Millisecond))

	if got := e.get("follows"); got.Status.ContainerStatuses[0].RestartCount != 0 || got.Status.ContainerStatuses[0].State.Running == nil {
		t.Errorf("the container restarted: %s", describeContainers(got))
	}
}

// waitFiles waits until the files in the pod's container (read there by
// exec) hold want, path by path.
func (e *testEnv) waitFiles(p *corev1.Pod, timeout time.Duration, want map[string]string) {
	e.t.Helper()
	testenv.Eventually(e.t, timeout, "the mounted files", func() error {
		for path, w := range want {
			out, code := e.exec(p, "app", "cat", path)
			if code != 0 || out != w {
				return fmt.Errorf("%s: %q (exit %d), want %q", path, out, code, w)
			}
		}
		return nil
	})
}

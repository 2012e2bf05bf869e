package nodeagent_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/nodeagent/containerd"
	"github.com/shoalmesh/shoal/test/imagetest"
)

// events returns the messages of the pod's events, by reason.
func (e *testEnv) events(pod string) map[string][]string {
	e.t.Helper()
	list, err := e.cs.CoreV1().Events("default").List(e.t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, ev := range list.Items {
		out[ev.Reason] = append(out[ev.Reason], ev.Message)
	}
	return out
}

func hasEvent(evs map[string][]string, reason, substr string) bool {
	for _, m := range evs[reason] {
		if strings.Contains(m, substr) {
			return true
		}
	}
	return false
}

// A missing tag is ErrImagePull with the registry's words, then
// ImagePullBackOff; an image that is there is pulled with the kubelet's
// events, and IfNotPresent then finds it present; Never does not pull.
func TestImagePullsAndBackOff(t *testing.T) {
	e := newTestEnv(t)
	missing := e.reg.Host + "/echoserver:missing"
	e.create(e.pod("missing", corev1.Container{Name: "app", Image: missing}))
	sawPull, sawBackOff := false, false
	e.waitPod("missing", 40*time.Second, "ErrImagePull, then ImagePullBackOff", func(p *corev1.Pod) error {
		cs := p.Status.ContainerStatuses
		if len(cs) == 1 && cs[0].State.Waiting != nil {
			w := cs[0].State.Waiting
			switch w.Reason {
			case "ErrImagePull":
				sawPull = sawPull || strings.Contains(w.Message, "not found")
			case "ImagePullBackOff":
				sawBackOff = sawBackOff || strings.Contains(w.Message, `Back-off pulling image "`+missing+`"`) && strings.Contains(w.Message, "not found")
			}
		}
		if !sawPull || !sawBackOff {
			return fmt.Errorf("saw ErrImagePull %v, ImagePullBackOff %v; now %s", sawPull, sawBackOff, describeContainers(p))
		}
		if p.Status.Phase != corev1.PodPending {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "the pull events", func() error {
		evs := e.events("missing")
		for _, want := range [][2]string{
			{"Pulling", `Pulling image "` + missing + `"`},
			{"Failed", `Failed to pull image "` + missing + `"`},
			{"Failed", "Error: ErrImagePull"},
			{"BackOff", `Back-off pulling image "` + missing + `"`},
		} {
			if !hasEvent(evs, want[0], want[1]) {
				return fmt.Errorf("no %s event %q in %v", want[0], want[1], evs)
			}
		}
		return nil
	})

	// Pulled, with the kubelet's words; a second pod finds it present.
	pulled := e.create(e.pod("pulled", e.serverContainer("web")))
	e.waitPod("pulled", 20*time.Second, "running", runningReady)
	present := e.serverContainer("web")
	present.ImagePullPolicy = corev1.PullIfNotPresent
	e.create(e.pod("present", present))
	e.waitPod("present", 20*time.Second, "running", runningReady)
	testenv.Eventually(t, 10*time.Second, "the Pulled events", func() error {
		if evs := e.events("pulled"); !hasEvent(evs, "Pulled", `Successfully pulled image "`+e.echo+`" in `) ||
			!hasEvent(evs, "Pulled", "including waiting). Image size: ") {
			return fmt.Errorf("pulled: %v", evs)
		}
		if evs := e.events("present"); !hasEvent(evs, "Pulled", `Container image "`+e.echo+`" already present on machine`) {
			return fmt.Errorf("present: %v", evs)
		}
		return nil
	})
	if p := e.get("pulled"); !strings.HasPrefix(p.Status.ContainerStatuses[0].ImageID, "sha256:") || p.Status.ContainerStatuses[0].Image != e.echo {
		t.Errorf("image %q, image ID %q", p.Status.ContainerStatuses[0].Image, p.Status.ContainerStatuses[0].ImageID)
	}
	_ = pulled

	never := corev1.Container{Name: "app", Image: e.reg.Host + "/busybox:not-here", ImagePullPolicy: corev1.PullNever}
	e.create(e.pod("never", never))
	e.waitPod("never", 10*time.Second, "ErrImageNeverPull", waitingWith("ErrImageNeverPull", "is not present with pull policy of Never"))
}

// A registry with htpasswd refuses an anonymous pull; the pod's
// imagePullSecrets (a kubernetes.io/dockerconfigjson Secret) let it pull.
func TestPrivateRegistryWithPullSecret(t *testing.T) {
	private := imagetest.StartRegistry(t, imagetest.RegistryOptions{Auth: true})
	e := newTestEnv(t)
	ref := private.Push(t, imagetest.EchoServer(t), "private/echo:1")
	e.create(e.pod("anonymous", corev1.Container{Name: "web", Image: ref}))
	e.waitPod("anonymous", 30*time.Second, "refused", func(p *corev1.Pod) error {
		if err := waitingWith("ErrImagePull", "401 Unauthorized")(p); err == nil {
			return nil
		}
		return waitingWith("ImagePullBackOff", "401 Unauthorized")(p)
	})

	auth := base64.StdEncoding.EncodeToString([]byte(private.User + ":" + private.Password))
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{private.Host: map[string]string{"auth": auth}}})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "regcred"},
		Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: cfg}}
	if _, err := e.cs.CoreV1().Secrets("default").Create(t.Context(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := e.pod("with-secret", corev1.Container{Name: "web", Image: ref, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}})
	p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "missing"}, {Name: "regcred"}}
	e.create(p)
	got := e.waitPod("with-secret", 30*time.Second, "running", runningReady)
	if body, err := podHTTP(got, "/"); err != nil || body != "with-secret\n" {
		t.Errorf("GET /: %q, %v", body, err)
	}
	// Nothing of the credentials is in the pod's events.
	for reason, msgs := range e.events("with-secret") {
		for _, m := range msgs {
			if strings.Contains(m, private.Password) || strings.Contains(m, auth) {
				t.Errorf("event %s quotes the credentials: %s", reason, m)
			}
		}
	}
	if evs := e.events("with-secret"); !hasEvent(evs, "FailedToRetrieveImagePullSecret", "missing") {
		t.Errorf("no event about the missing pull secret: %v", evs)
	}
}

// A docker.io mirror (registries.yaml's mirrors) serves docker.io images:
// docker.io/library/<name>:<tag> and the short name run from the local
// registry.
func TestRegistryMirror(t *testing.T) {
	mirror := imagetest.StartRegistry(t, imagetest.RegistryOptions{})
	mirror.Push(t, imagetest.EchoServer(t), "library/mirrored-echo:1")
	e := newTestEnv(t, func(e *testEnv) {
		e.cfg.Registries = containerd.Registries{Mirrors: map[string]containerd.Mirror{
			"docker.io": {Endpoints: []string{"http://" + mirror.Host}},
		}}
	})
	for name, image := range map[string]string{"long": "docker.io/library/mirrored-echo:1", "short": "mirrored-echo:1"} {
		c := corev1.Container{Name: "web", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}
		e.create(e.pod(name, c))
	}
	for _, name := range []string{"long", "short"} {
		p := e.waitPod(name, 30*time.Second, "running from the mirror", runningReady)
		if body, err := podHTTP(p, "/"); err != nil || body != name+"\n" {
			t.Errorf("%s: GET /: %q, %v", name, body, err)
		}
	}
}

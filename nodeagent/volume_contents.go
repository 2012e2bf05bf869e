package nodeagent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/shoalmesh/shoal/nodeagent/volume"
)

// Default file modes of configMap, secret, downwardAPI and projected
// volumes, as in Kubernetes.
const defaultVolumeMode = 0o644

// writeVolumeContents writes the files of the pod's configMap, secret,
// downwardAPI and projected volumes (each replaced atomically, unchanged
// ones untouched): the keys of ConfigMaps and Secrets (all, or the items
// listed, with their modes), the downward API's fields. A ConfigMap or
// Secret that is missing and not optional, or a missing key listed in
// items, fails it (FailedMount), as the kubelet does. A projected
// serviceAccountToken source is a token of the pod's ServiceAccount bound
// to the pod (TokenRequest), renewed at 80% of its life: w.volRefresh is
// when sync must call this again (zero: never).
func (w *podWorker) writeVolumeContents(ctx context.Context, pod *corev1.Pod, objs envObjects, now time.Time) error {
	w.volRefresh = time.Time{}
	for _, vol := range pod.Spec.Volumes {
		var payload map[string]volume.File
		var err error
		switch src := vol.VolumeSource; {
		case src.ConfigMap != nil:
			payload, err = configMapFiles(src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, src.ConfigMap.DefaultMode, objs)
		case src.Secret != nil:
			payload, err = secretFiles(src.Secret.SecretName, src.Secret.Items, src.Secret.Optional, src.Secret.DefaultMode, objs)
		case src.DownwardAPI != nil:
			payload, err = downwardFiles(pod, src.DownwardAPI.Items, src.DownwardAPI.DefaultMode, w.podIP(), w.a.cfg.NodeIP.String())
		case src.Projected != nil:
			payload, err = w.projectedFiles(ctx, pod, src.Projected, objs, now)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", vol.Name, err)
		}
		if err := volume.WriteAtomic(w.volumes.paths[vol.Name], payload); err != nil {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", vol.Name, err)
		}
	}
	return nil
}

func (w *podWorker) podIP() string {
	if w.sandbox != nil {
		return w.sandbox.ip.String()
	}
	return ""
}

func fileMode(item *int32, def *int32) fs.FileMode {
	switch {
	case item != nil:
		return fs.FileMode(*item)
	case def != nil:
		return fs.FileMode(*def)
	}
	return defaultVolumeMode
}

// keyFiles lays data out as files: every key, or the items listed.
func keyFiles(data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, kind, name string, optional bool) (map[string]volume.File, error) {
	out := map[string]volume.File{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = volume.File{Data: v, Mode: fileMode(nil, defaultMode)}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configuration of %s %q has no key %q", kind, name, it.Key)
		}
		out[it.Path] = volume.File{Data: v, Mode: fileMode(it.Mode, defaultMode)}
	}
	return out, nil
}

func configMapFiles(name string, items []corev1.KeyToPath, optional *bool, defaultMode *int32, objs envObjects) (map[string]volume.File, error) {
	data, err := objs.configMap(name)
	if errors.Is(err, ErrNotFound) && ptr.Deref(optional, false) {
		return map[string]volume.File{}, nil
	}
	if err != nil {
		return nil, err
	}
	bytes := make(map[string][]byte, len(data))
	for k, v := range data {
		bytes[k] = []byte(v)
	}
	return keyFiles(bytes, items, defaultMode, "configmap", name, ptr.Deref(optional, false))
}

func secretFiles(name string, items []corev1.KeyToPath, optional *bool, defaultMode *int32, objs envObjects) (map[string]volume.File, error) {
	data, err := objs.secret(name)
	if errors.Is(err, ErrNotFound) && ptr.Deref(optional, false) {
		return map[string]volume.File{}, nil
	}
	if err != nil {
		return nil, err
	}
	return keyFiles(data, items, defaultMode, "secret", name, ptr.Deref(optional, false))
}

// downwardFiles are the downward API's files: pod fields, and containers'
// resources.
func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32, podIP, hostIP string) (map[string]volume.File, error) {
	out := map[string]volume.File{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = downwardField(pod, it.FieldRef.FieldPath, podIP, hostIP)
		case it.ResourceFieldRef != nil:
			c := findContainer(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, fmt.Errorf("downward API %s: no container %q", it.Path, it.ResourceFieldRef.ContainerName)
			}
			v, err = resourceFieldRef(c, it.ResourceFieldRef)
		default:
			err = errors.New("neither fieldRef nor resourceFieldRef")
		}
		if err != nil {
			return nil, fmt.Errorf("downward API %s: %w", it.Path, err)
		}
		out[it.Path] = volume.File{Data: []byte(v), Mode: fileMode(it.Mode, defaultMode)}
	}
	return out, nil
}

// downwardField is a pod field as a downward API file: all labels or
// annotations as key="value" lines too.
func downwardField(pod *corev1.Pod, path, podIP, hostIP string) (string, error) {
	switch path {
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	return fieldRef(pod, path, podIP, hostIP)
}

func formatMap(m map[string]string) string {
	lines := make([]string, 0, len(m))
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			if cs[i].Name == name || (name == "" && len(pod.Spec.Containers) == 1) {
				return &cs[i]
			}
		}
	}
	return nil
}

// projectedFiles merges a projected volume's sources.
func (w *podWorker) projectedFiles(ctx context.Context, pod *corev1.Pod, p *corev1.ProjectedVolumeSource, objs envObjects, now time.Time) (map[string]volume.File, error) {
	out := map[string]volume.File{}
	for i, s := range p.Sources {
		var files map[string]volume.File
		var err error
		switch {
		case s.ConfigMap != nil:
			files, err = configMapFiles(s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, p.DefaultMode, objs)
		case s.Secret != nil:
			files, err = secretFiles(s.Secret.Name, s.Secret.Items, s.Secret.Optional, p.DefaultMode, objs)
		case s.DownwardAPI != nil:
			files, err = downwardFiles(pod, s.DownwardAPI.Items, p.DefaultMode, w.podIP(), w.a.cfg.NodeIP.String())
		case s.ServiceAccountToken != nil:
			var tok []byte
			if tok, err = w.serviceAccountToken(ctx, pod, s.ServiceAccountToken, now); err == nil {
				files = map[string]volume.File{s.ServiceAccountToken.Path: {Data: tok, Mode: fileMode(nil, p.DefaultMode)}}
			}
		default:
			continue // clusterTrustBundle, podCertificate: not filled
		}
		if err != nil {
			return nil, fmt.Errorf("projected source %d: %w", i, err)
		}
		for k, v := range files {
			out[k] = v
		}
	}
	return out, nil
}

// saToken is a projected service account token the worker holds.
type saToken struct {
	token   []byte
	refresh time.Time // at 80% of its life
}

// defaultTokenSeconds is a projected token's life when the projection
// does not say.
const defaultTokenSeconds = 3600

// serviceAccountToken is a token of the pod's ServiceAccount bound to the
// pod, for projection p: the one held until it is due for renewal, else a
// new one from the TokenRequest API.
func (w *podWorker) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection, now time.Time) ([]byte, error) {
	key := p.Path + "\x00" + p.Audience
	t, ok := w.tokens[key]
	if !ok || !now.Before(t.refresh) {
		if w.a.client == nil {
			return nil, errors.New("no API server to request a service account token from")
		}
		exp := ptr.Deref(p.ExpirationSeconds, defaultTokenSeconds)
		var aud []string
		if p.Audience != "" {
			aud = []string{p.Audience}
		}
		sa := cmp.Or(pod.Spec.ServiceAccountName, "default")
		ctx, cancel := context.WithTimeout(ctx, objectTimeout)
		defer cancel()
		tr, err := w.a.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{
			Audiences: aud, ExpirationSeconds: &exp,
			BoundObjectRef: &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		}}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("request a token of service account %q: %w", sa, err)
		}
		life := tr.Status.ExpirationTimestamp.Sub(now)
		if life <= 0 {
			life = time.Duration(exp) * time.Second
		}
		t = saToken{token: []byte(tr.Status.Token), refresh: now.Add(life * 8 / 10)}
		if w.tokens == nil {
			w.tokens = map[string]saToken{}
		}
		w.tokens[key] = t
	}
	if w.volRefresh.IsZero() || t.refresh.Before(w.volRefresh) {
		w.volRefresh = t.refresh
	}
	return t.token, nil
}

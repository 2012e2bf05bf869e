package nodeagent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// dockerConfigEntry is one registry's credentials in a docker config.
type dockerConfigEntry struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"` // base64 of user:password
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// pullAuths are the credentials of the pod's imagePullSecrets that apply
// to image's registry, most specific key first, as the kubelet's keyring
// orders them. A secret that cannot be read or parsed is skipped with a
// warning event (naming the secret, never its contents).
func (a *Agent) pullAuths(ctx context.Context, pod *corev1.Pod, image string) []*runtimeapi.AuthConfig {
	var entries []keyedEntry
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			a.events.pod(pod, "", corev1.EventTypeWarning, eventFailedPullSecret,
				"Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", ref.Name)
			continue
		}
		es, err := parsePullSecret(s)
		if err != nil {
			a.events.pod(pod, "", corev1.EventTypeWarning, eventFailedPullSecret, "image pull secret %s: %v", ref.Name, err)
			continue
		}
		entries = append(entries, es...)
	}
	return matchAuths(entries, image)
}

// keyedEntry is a docker config entry with the registry key it is for.
type keyedEntry struct {
	key   string
	entry dockerConfigEntry
}

// parsePullSecret reads a kubernetes.io/dockerconfigjson or
// kubernetes.io/dockercfg Secret. Errors never quote its data.
func parsePullSecret(s *corev1.Secret) ([]keyedEntry, error) {
	var auths map[string]dockerConfigEntry
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
			return nil, fmt.Errorf("%s is not a docker config (JSON)", corev1.DockerConfigJsonKey)
		}
		auths = cfg.Auths
	case corev1.SecretTypeDockercfg:
		if err := json.Unmarshal(s.Data[corev1.DockerConfigKey], &auths); err != nil {
			return nil, fmt.Errorf("%s is not a docker config (JSON)", corev1.DockerConfigKey)
		}
	default:
		return nil, fmt.Errorf("type %q is not %s or %s", s.Type, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg)
	}
	var out []keyedEntry
	for k, e := range auths {
		if e.Auth != "" && e.Username == "" {
			b, err := base64.StdEncoding.DecodeString(e.Auth)
			user, pass, ok := strings.Cut(string(b), ":")
			if err != nil || !ok {
				return nil, fmt.Errorf("the auth of registry %q is not base64 of user:password", k)
			}
			e.Username, e.Password = user, pass
		}
		out = append(out, keyedEntry{key: k, entry: e})
	}
	return out, nil
}

// matchAuths are the entries whose key matches image's registry (and path
// prefix), longest key first.
func matchAuths(entries []keyedEntry, image string) []*runtimeapi.AuthConfig {
	host, repo := splitImage(image)
	sort.SliceStable(entries, func(i, j int) bool { return len(entries[i].key) > len(entries[j].key) })
	var out []*runtimeapi.AuthConfig
	for _, e := range entries {
		kh, kp := splitKey(e.key)
		if !hostMatches(kh, host) || (kp != "" && !strings.HasPrefix(repo+"/", strings.TrimSuffix(kp, "/")+"/")) {
			continue
		}
		// No ServerAddress: the entry matched the image's registry already,
		// and containerd 1.6 cannot parse a bare host:port there.
		out = append(out, &runtimeapi.AuthConfig{
			Username: e.entry.Username, Password: e.entry.Password,
			IdentityToken: e.entry.IdentityToken, RegistryToken: e.entry.RegistryToken,
		})
	}
	return out
}

// splitImage is an image reference's registry host (docker.io for a name
// without one) and repository path, without tag or digest.
func splitImage(image string) (host, repo string) {
	image, _, _ = strings.Cut(image, "@")
	first, rest, ok := strings.Cut(image, "/")
	if !ok || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		host, rest = "docker.io", image
		if !strings.Contains(image, "/") {
			rest = "library/" + image
		}
	} else {
		host = first
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		rest = rest[:i]
	}
	return normalizeHost(host), rest
}

// splitKey is a docker config key's host and path: "https://index.docker.io/v1/"
// is docker.io; "registry.example.com:5000/team" has path "team".
func splitKey(key string) (host, p string) {
	if !strings.Contains(key, "://") {
		key = "https://" + key
	}
	u, err := url.Parse(key)
	if err != nil {
		return "", ""
	}
	host = normalizeHost(u.Host)
	p = strings.Trim(path.Clean("/"+u.Path), "/")
	if host == "docker.io" && (p == "v1" || p == "v2") {
		p = ""
	}
	return host, p
}

func normalizeHost(h string) string {
	switch h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}

// hostMatches matches a key's host, which may have glob labels
// (*.example.com), to an image's.
func hostMatches(pattern, host string) bool {
	if pattern == host {
		return true
	}
	pp, hp := strings.Split(pattern, "."), strings.Split(host, ".")
	if len(pp) != len(hp) {
		return false
	}
	for i := range pp {
		if ok, _ := path.Match(pp[i], hp[i]); !ok {
			return false
		}
	}
	return true
}

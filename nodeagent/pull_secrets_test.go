package nodeagent

import (
	"encoding/base64"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSplitImage(t *testing.T) {
	for image, want := range map[string][2]string{
		"nginx":                                 {"docker.io", "library/nginx"},
		"nginx:1.27":                            {"docker.io", "library/nginx"},
		"bitnami/redis:7":                       {"docker.io", "bitnami/redis"},
		"docker.io/library/busybox@sha256:abcd": {"docker.io", "library/busybox"},
		"index.docker.io/library/busybox":       {"docker.io", "library/busybox"},
		"127.0.0.1:5000/team/app:v1":            {"127.0.0.1:5000", "team/app"},
		"localhost/app":                         {"localhost", "app"},
		"ghcr.io/org/app:latest":                {"ghcr.io", "org/app"},
	} {
		host, repo := splitImage(image)
		if host != want[0] || repo != want[1] {
			t.Errorf("splitImage(%q) = %s, %s; want %s, %s", image, host, repo, want[0], want[1])
		}
	}
}

func TestPullSecrets(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	json := `{"auths":{
		"https://index.docker.io/v1/":{"auth":"` + b64("hub:hubpw") + `"},
		"127.0.0.1:5000":{"username":"u","password":"p"},
		"127.0.0.1:5000/team":{"username":"team","password":"tp"},
		"*.example.com":{"username":"w","password":"wp"}}}`
	s := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(json)}}
	entries, err := parsePullSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	users := func(image string) string {
		var u []string
		for _, a := range matchAuths(entries, image) {
			u = append(u, a.Username+":"+a.Password)
		}
		return strings.Join(u, ",")
	}
	for image, want := range map[string]string{
		"nginx":                          "hub:hubpw",
		"127.0.0.1:5000/app:1":           "u:p",
		"127.0.0.1:5000/team/app:1":      "team:tp,u:p", // the more specific first
		"registry.example.com/app":       "w:wp",
		"a.b.example.com/app":            "",
		"127.0.0.1:5001/app":             "",
		"ghcr.io/org/app":                "",
		"127.0.0.1:5000/teammate/app:v1": "u:p",
	} {
		if got := users(image); got != want {
			t.Errorf("credentials for %s: %q, want %q", image, got, want)
		}
	}
	cfg := &corev1.Secret{Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"127.0.0.1:5000":{"auth":"` + b64("old:pw") + `"}}`)}}
	if entries, err := parsePullSecret(cfg); err != nil || len(matchAuths(entries, "127.0.0.1:5000/x")) != 1 {
		t.Errorf("dockercfg: %v, %v", entries, err)
	}
	secret := "s3cr3t-value"
	for _, bad := range []*corev1.Secret{
		{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"x": []byte(secret)}},
		{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{" + secret)}},
		{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"r":{"auth":"` + secret + `"}}}`)}},
	} {
		_, err := parsePullSecret(bad)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("bad secret: %v (must fail without quoting the data)", err)
		}
	}
}

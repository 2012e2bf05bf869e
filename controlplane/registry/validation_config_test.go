package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func validConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: objectMeta("default", "app-config"),
		Data: map[string]string{"app.properties": "color=blue\n", "LOG_LEVEL": "debug"}}
}

func secretOf(typ corev1.SecretType, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: objectMeta("default", "creds"), Type: typ, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// TestValidateConfig holds ConfigMaps, Secrets and ServiceAccounts to
// Kubernetes' rules: each bad object names the offending field, each good
// one passes, and no message carries a secret's value.
func TestValidateConfig(t *testing.T) {
	const secretValue = "hunter2-do-not-print"
	big := strings.Repeat("x", MaxSecretSize)
	tests := []struct {
		name string
		obj  runtime.Object
		// want are the fields of the errors, in order; nil for valid.
		want []string
		// msg, if set, must be in the first error.
		msg string
	}{
		{"configmap", validConfigMap(), nil, ""},
		{"configmap binaryData", with(validConfigMap(), func(c *corev1.ConfigMap) {
			c.BinaryData = map[string][]byte{"logo.png": {0x89, 'P', 'N', 'G'}}
		}), nil, ""},
		{"configmap key with slash", with(validConfigMap(), func(c *corev1.ConfigMap) { c.Data["a/b"] = "x" }),
			[]string{"data[a/b]"}, "a valid config key must consist of alphanumeric characters"},
		{"configmap key dot-dot", with(validConfigMap(), func(c *corev1.ConfigMap) { c.Data[".."] = "x" }), []string{"data[..]"}, "must not be '..'"},
		{"configmap binary key invalid", with(validConfigMap(), func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"a b": nil} }),
			[]string{"binaryData[a b]"}, ""},
		{"configmap key in both", with(validConfigMap(), func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"LOG_LEVEL": nil} }),
			[]string{"data[LOG_LEVEL]"}, "duplicate of key present in binaryData"},
		{"configmap exactly 1 MiB", &corev1.ConfigMap{ObjectMeta: objectMeta("default", "big"), Data: map[string]string{"a": big}}, nil, ""},
		{"configmap over 1 MiB", &corev1.ConfigMap{ObjectMeta: objectMeta("default", "big"), Data: map[string]string{"a": big},
			BinaryData: map[string][]byte{"b": {1}}}, []string{"[]"}, "Too long: may not be more than 1048576 bytes"},
		{"configmap bad name", with(validConfigMap(), func(c *corev1.ConfigMap) { c.Name = "App_Config" }), []string{"metadata.name"}, ""},

		{"opaque", secretOf(corev1.SecretTypeOpaque, map[string]string{"password": secretValue}), nil, ""},
		{"unknown type is free-form", secretOf("example.com/custom", map[string]string{"x": secretValue}), nil, ""},
		{"bootstrap token is free-form", secretOf(corev1.SecretTypeBootstrapToken, nil), nil, ""},
		{"secret key invalid", secretOf(corev1.SecretTypeOpaque, map[string]string{"pass word": secretValue}), []string{"data[pass word]"}, ""},
		{"secret over 1 MiB", secretOf(corev1.SecretTypeOpaque, map[string]string{"a": big, "b": "y"}), []string{"data"},
			"data: Too long: may not be more than 1048576 bytes"},
		{"service-account-token needs the account name", secretOf(corev1.SecretTypeServiceAccountToken, nil),
			[]string{"metadata.annotations[kubernetes.io/service-account.name]"}, "Required value"},
		{"service-account-token", with(secretOf(corev1.SecretTypeServiceAccountToken, nil), func(s *corev1.Secret) {
			s.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
		}), nil, ""},
		{"dockercfg", secretOf(corev1.SecretTypeDockercfg, map[string]string{".dockercfg": `{"r.example":{"auth":"eA=="}}`}), nil, ""},
		{"dockercfg missing", secretOf(corev1.SecretTypeDockercfg, nil), []string{"data[.dockercfg]"}, "Required value"},
		{"dockerconfigjson", secretOf(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `{"auths":{}}`}), nil, ""},
		{"dockerconfigjson not JSON", secretOf(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": secretValue}),
			[]string{"data[.dockerconfigjson]"}, "invalid JSON at byte offset"},
		{"dockerconfigjson not an object", secretOf(corev1.SecretTypeDockerConfigJson, map[string]string{".dockerconfigjson": `"` + secretValue + `"`}),
			[]string{"data[.dockerconfigjson]"}, "must be a JSON object"},
		{"basic-auth username only", secretOf(corev1.SecretTypeBasicAuth, map[string]string{"username": "u"}), nil, ""},
		{"basic-auth empty password only", secretOf(corev1.SecretTypeBasicAuth, map[string]string{"password": ""}), nil, ""},
		{"basic-auth neither", secretOf(corev1.SecretTypeBasicAuth, nil), []string{"data[username]", "data[password]"}, "Required value"},
		{"ssh-auth", secretOf(corev1.SecretTypeSSHAuth, map[string]string{"ssh-privatekey": secretValue}), nil, ""},
		{"ssh-auth empty key", secretOf(corev1.SecretTypeSSHAuth, map[string]string{"ssh-privatekey": ""}), []string{"data[ssh-privatekey]"}, ""},
		{"tls", secretOf(corev1.SecretTypeTLS, map[string]string{"tls.crt": "c", "tls.key": secretValue}), nil, ""},
		{"tls without key", secretOf(corev1.SecretTypeTLS, map[string]string{"tls.crt": "c"}), []string{"data[tls.key]"}, "Required value"},
		{"tls without either", secretOf(corev1.SecretTypeTLS, nil), []string{"data[tls.crt]", "data[tls.key]"}, ""},

		{"service account", &corev1.ServiceAccount{ObjectMeta: objectMeta("default", "builder")}, nil, ""},
		{"service account bad name", &corev1.ServiceAccount{ObjectMeta: objectMeta("default", "Builder!")}, []string{"metadata.name"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			SetDefaults(tt.obj)
			errs := Validate(tt.obj)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
				if strings.Contains(e.Error(), secretValue) || strings.Contains(e.Error(), "xxxxxxxxxx") {
					t.Errorf("error echoes the value: %v", e)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("error fields = %q, want %q (%v)", got, tt.want, errs)
			}
			if tt.msg != "" && !strings.Contains(errs[0].Error(), tt.msg) {
				t.Errorf("error %q does not say %q", errs[0].Error(), tt.msg)
			}
		})
	}
}

func TestSecretDefaults(t *testing.T) {
	s := &corev1.Secret{ObjectMeta: objectMeta("default", "s"),
		Data:       map[string][]byte{"user": []byte("old"), "keep": []byte("k")},
		StringData: map[string]string{"user": "new", "extra": "e"}}
	SetDefaults(s)
	if s.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want Opaque", s.Type)
	}
	if s.StringData != nil {
		t.Errorf("stringData kept: %v", s.StringData)
	}
	want := map[string]string{"user": "new", "keep": "k", "extra": "e"}
	if len(s.Data) != len(want) {
		t.Fatalf("data = %q, want %q", s.Data, want)
	}
	for k, v := range want {
		if string(s.Data[k]) != v {
			t.Errorf("data[%s] = %q, want %q", k, s.Data[k], v)
		}
	}
	// Only stringData: data is made.
	s = &corev1.Secret{StringData: map[string]string{"a": "b"}, Type: corev1.SecretTypeBasicAuth}
	SetDefaults(s)
	if string(s.Data["a"]) != "b" || s.Type != corev1.SecretTypeBasicAuth {
		t.Errorf("got %+v", s)
	}
}

func TestServiceAccountFieldsInSync(t *testing.T) {
	for _, tt := range []struct{ name, deprecated, want string }{
		{"", "", ""},
		{"builder", "", "builder"},
		{"", "legacy", "legacy"},
		{"builder", "legacy", "builder"}, // the new field wins
	} {
		p := validPod()
		p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount = tt.name, tt.deprecated
		SetDefaults(p)
		if p.Spec.ServiceAccountName != tt.want || p.Spec.DeprecatedServiceAccount != tt.want {
			t.Errorf("(%q, %q) → (%q, %q), want both %q", tt.name, tt.deprecated, p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount, tt.want)
		}
	}
}

func TestValidateConfigUpdate(t *testing.T) {
	immutable := func(b bool) *bool { return &b }
	tests := []struct {
		name     string
		old, new runtime.Object
		want     []string
	}{
		{"configmap data change", validConfigMap(), with(validConfigMap(), func(c *corev1.ConfigMap) { c.Data["LOG_LEVEL"] = "info" }), nil},
		{"configmap made immutable", validConfigMap(), with(validConfigMap(), func(c *corev1.ConfigMap) { c.Immutable = immutable(true) }), nil},
		{"immutable configmap data change",
			with(validConfigMap(), func(c *corev1.ConfigMap) { c.Immutable = immutable(true) }),
			with(validConfigMap(), func(c *corev1.ConfigMap) { c.Immutable = immutable(true); c.Data["LOG_LEVEL"] = "info" }),
			[]string{"data"}},
		{"immutable configmap binaryData added",
			with(validConfigMap(), func(c *corev1.ConfigMap) { c.Immutable = immutable(true) }),
			with(validConfigMap(), func(c *corev1.ConfigMap) { c.Immutable = immutable(true); c.BinaryData = map[string][]byte{"b": nil} }),
			[]string{"binaryData"}},
		{"immutable configmap turned mutable",
			with(validConfigMap(), func(c *corev1.ConfigMap) { c.Immutable = immutable(true) }),
			with(validConfigMap(), func(c *corev1.ConfigMap) { c.Immutable = immutable(false) }),
			[]string{"immutable"}},
		{"immutable configmap labels change",
			with(validConfigMap(), func(c *corev1.ConfigMap) { c.Immutable = immutable(true) }),
			with(validConfigMap(), func(c *corev1.ConfigMap) { c.Immutable = immutable(true); c.Labels = map[string]string{"a": "b"} }),
			nil},
		{"secret type change", secretOf(corev1.SecretTypeOpaque, nil), secretOf("example.com/x", nil), []string{"type"}},
		{"immutable secret data change",
			with(secretOf(corev1.SecretTypeOpaque, map[string]string{"a": "1"}), func(s *corev1.Secret) { s.Immutable = immutable(true) }),
			with(secretOf(corev1.SecretTypeOpaque, map[string]string{"a": "2"}), func(s *corev1.Secret) { s.Immutable = immutable(true) }),
			[]string{"data"}},
		{"immutable secret unset",
			with(secretOf(corev1.SecretTypeOpaque, nil), func(s *corev1.Secret) { s.Immutable = immutable(true) }),
			secretOf(corev1.SecretTypeOpaque, nil),
			[]string{"immutable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			SetDefaults(tt.old)
			SetDefaults(tt.new)
			var got []string
			for _, e := range ValidateUpdate(tt.new, tt.old) {
				got = append(got, e.Field)
				if e.Type == "FieldValueForbidden" && !strings.Contains(e.Detail, "field is immutable when `immutable` is set") && e.Field != "type" {
					t.Errorf("detail %q", e.Detail)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("error fields = %q, want %q", got, tt.want)
			}
		})
	}
}

package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxSecretSize bounds the data of one Secret or ConfigMap, as Kubernetes
// does (core.MaxSecretSize): 1 MiB, well under etcd's request limit even
// base64-encoded.
const MaxSecretSize = 1 << 20

// immutableMsg is Kubernetes' detail for a change to an immutable object.
const immutableMsg = "field is immutable when `immutable` is set"

// redacted stands in for a Secret's value in an error: Shoal never echoes
// secret data in an error, a log or an event.
const redacted = "<secret contents redacted>"

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := validateMeta(cm, true, apivalidation.NameIsDNSSubdomain)
	size := 0
	data := field.NewPath("data")
	for key, value := range cm.Data {
		errs = append(errs, validateConfigKey(key, data.Key(key))...)
		if _, dup := cm.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(data.Key(key), key, "duplicate of key present in binaryData"))
		}
		size += len(value)
	}
	binary := field.NewPath("binaryData")
	for key, value := range cm.BinaryData {
		errs = append(errs, validateConfigKey(key, binary.Key(key))...)
		size += len(value)
	}
	if size > MaxSecretSize {
		// An empty path: the limit is on the whole object, as Kubernetes says.
		errs = append(errs, field.TooLong(field.NewPath(""), "", MaxSecretSize))
	}
	return errs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	if isTrue(old.Immutable) {
		if !isTrue(cm.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
		}
		if !reflect.DeepEqual(cm.Data, old.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
		}
		if !reflect.DeepEqual(cm.BinaryData, old.BinaryData) {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableMsg))
		}
	}
	return errs
}

// validateSecret checks a Secret as Kubernetes does: keys, total size, and
// the keys each well-known type requires. stringData has been merged into
// data by SetDefaults already. No error carries a value from data.
func validateSecret(s *corev1.Secret) field.ErrorList {
	errs := validateMeta(s, true, apivalidation.NameIsDNSSubdomain)
	data := field.NewPath("data")
	size := 0
	for key, value := range s.Data {
		errs = append(errs, validateConfigKey(key, data.Key(key))...)
		size += len(value)
	}
	if size > MaxSecretSize {
		errs = append(errs, field.TooLong(data, "", MaxSecretSize))
	}
	required := func(key string) {
		errs = append(errs, field.Required(data.Key(key), ""))
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		// The name is required; the uid and the token are a controller's
		// to fill in.
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		errs = append(errs, validateJSONKey(s.Data, corev1.DockerConfigKey, data)...)
	case corev1.SecretTypeDockerConfigJson:
		errs = append(errs, validateJSONKey(s.Data, corev1.DockerConfigJsonKey, data)...)
	case corev1.SecretTypeBasicAuth:
		// Either may be empty, but one of them must be there.
		_, user := s.Data[corev1.BasicAuthUsernameKey]
		_, pass := s.Data[corev1.BasicAuthPasswordKey]
		if !user && !pass {
			required(corev1.BasicAuthUsernameKey)
			required(corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			required(corev1.SSHAuthPrivateKey)
		}
	case corev1.SecretTypeTLS:
		if _, ok := s.Data[corev1.TLSCertKey]; !ok {
			required(corev1.TLSCertKey)
		}
		if _, ok := s.Data[corev1.TLSPrivateKeyKey]; !ok {
			required(corev1.TLSPrivateKeyKey)
		}
	}
	// Opaque, bootstrap.kubernetes.io/token and any other type: free-form,
	// as in Kubernetes.
	return errs
}

// validateJSONKey requires data[key] to be present and valid JSON. The
// error names where the JSON breaks, never what it says.
func validateJSONKey(data map[string][]byte, key string, path *field.Path) field.ErrorList {
	value, ok := data[key]
	if !ok {
		return field.ErrorList{field.Required(path.Key(key), "")}
	}
	if err := json.Unmarshal(value, &map[string]any{}); err != nil {
		detail := "must be a JSON object"
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			detail = fmt.Sprintf("invalid JSON at byte offset %d", syntax.Offset)
		}
		return field.ErrorList{field.Invalid(path.Key(key), redacted, detail)}
	}
	return nil
}

func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	errs := apivalidation.ValidateImmutableField(s.Type, old.Type, field.NewPath("type"))
	if isTrue(old.Immutable) {
		if !isTrue(s.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
		}
		if !reflect.DeepEqual(s.Data, old.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
		}
	}
	return errs
}

func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	return validateMeta(sa, true, apivalidation.ValidateServiceAccountName)
}

// validateConfigKey checks a key of a ConfigMap's or Secret's data: a file
// name a volume can hold (IsConfigMapKey).
func validateConfigKey(key string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(path, key, msg))
	}
	return errs
}

func isTrue(b *bool) bool { return b != nil && *b }

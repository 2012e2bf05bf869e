package registry

import corev1 "k8s.io/api/core/v1"

// setSecretDefaults does what Kubernetes does to a Secret on its way in:
// stringData, a write-only convenience, is merged into data (its values
// win) and never stored; an empty type is Opaque.
func setSecretDefaults(s *corev1.Secret) {
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

// syncServiceAccount keeps the deprecated serviceAccount field equal to
// serviceAccountName, as Kubernetes' conversion does: a client that set
// only the old field is read as having set the new one.
func syncServiceAccount(spec *corev1.PodSpec) {
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
}

package api

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// The configuration and identity objects pods carry: ConfigMaps, Secrets and
// ServiceAccounts. Secrets are the one resource Shoal encrypts at rest (see
// the registry's encryption configuration); the others are plain JSON like
// every other object.
var (
	ConfigMaps = &Info{Resource: &Resource{
		GroupVersion: coreV1, Kind: "ConfigMap", Name: "configmaps", Namespaced: true, Prefix: "/registry/configmaps/",
		New: func() Object { return &corev1.ConfigMap{} },
	}, ListKind: "ConfigMapList", ShortNames: []string{"cm"}, Singular: "configmap"}

	Secrets = &Info{Resource: &Resource{
		GroupVersion: coreV1, Kind: "Secret", Name: "secrets", Namespaced: true, Prefix: "/registry/secrets/",
		New: func() Object { return &corev1.Secret{} },
		Fields: func(o Object) fields.Set {
			return fields.Set{"type": string(o.(*corev1.Secret).Type)}
		},
	}, ListKind: "SecretList", Singular: "secret"}

	ServiceAccounts = &Info{Resource: &Resource{
		GroupVersion: coreV1, Kind: "ServiceAccount", Name: "serviceaccounts", Namespaced: true, Prefix: "/registry/serviceaccounts/",
		New: func() Object { return &corev1.ServiceAccount{} },
	}, ListKind: "ServiceAccountList", ShortNames: []string{"sa"}, Singular: "serviceaccount"}
)

// ConfigResources is this file's share of All.
var ConfigResources = []*Info{ConfigMaps, Secrets, ServiceAccounts}

package table

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ConfigMaps, Secrets and ServiceAccounts print counts, never contents:
// `kubectl get secret` shows how many keys a Secret has, not what they say.
var (
	configMapColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Data", Type: "string", Description: corev1.ConfigMap{}.SwaggerDoc()["data"]},
		ageColumn,
	}
	secretColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Type", Type: "string", Description: corev1.Secret{}.SwaggerDoc()["type"]},
		{Name: "Data", Type: "string", Description: corev1.Secret{}.SwaggerDoc()["data"]},
		ageColumn,
	}
	serviceAccountColumns = []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Secrets", Type: "string", Description: corev1.ServiceAccount{}.SwaggerDoc()["secrets"]},
		ageColumn,
	}
)

func init() {
	register(schema.GroupKind{Kind: "ConfigMap"}, "v1", configMapColumns, rowOf(configMapRow))
	register(schema.GroupKind{Kind: "Secret"}, "v1", secretColumns, rowOf(secretRow))
	register(schema.GroupKind{Kind: "ServiceAccount"}, "v1", serviceAccountColumns, rowOf(serviceAccountRow))
}

func configMapRow(cm *corev1.ConfigMap, now time.Time) metav1.TableRow {
	return cells(cm.Name, int64(len(cm.Data)+len(cm.BinaryData)), age(cm.CreationTimestamp, now))
}

func secretRow(s *corev1.Secret, now time.Time) metav1.TableRow {
	return cells(s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp, now))
}

func serviceAccountRow(sa *corev1.ServiceAccount, now time.Time) metav1.TableRow {
	return cells(sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now))
}

package cluster

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// meta is the metadata the plugin keeps of an object: its namespace, name
// and resourceVersion, which is all a store.Cache needs of what it holds.
// The rest of metav1.Object reads as empty and ignores writes, as CoreDNS's
// object.Empty does for its trimmed objects.
type meta struct {
	namespace, name, resourceVersion string
}

func (*meta) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (m *meta) GetNamespace() string                { return m.namespace }
func (m *meta) SetNamespace(ns string)              { m.namespace = ns }
func (m *meta) GetName() string                     { return m.name }
func (m *meta) SetName(name string)                 { m.name = name }
func (m *meta) GetResourceVersion() string          { return m.resourceVersion }
func (m *meta) SetResourceVersion(rv string)        { m.resourceVersion = rv }
func (*meta) GetGenerateName() string               { return "" }
func (*meta) SetGenerateName(string)                {}
func (*meta) GetUID() types.UID                     { return "" }
func (*meta) SetUID(types.UID)                      {}
func (*meta) GetGeneration() int64                  { return 0 }
func (*meta) SetGeneration(int64)                   {}
func (*meta) GetSelfLink() string                   { return "" }
func (*meta) SetSelfLink(string)                    {}
func (*meta) GetCreationTimestamp() metav1.Time     { return metav1.Time{} }
func (*meta) SetCreationTimestamp(metav1.Time)      {}
func (*meta) GetDeletionTimestamp() *metav1.Time    { return nil }
func (*meta) SetDeletionTimestamp(*metav1.Time)     {}
func (*meta) GetDeletionGracePeriodSeconds() *int64 { return nil }
func (*meta) SetDeletionGracePeriodSeconds(*int64)  {}
func (*meta) GetLabels() map[string]string          { return nil }
func (*meta) SetLabels(map[string]string)           {}
func (*meta) GetAnnotations() map[string]string     { return nil }
func (*meta) SetAnnotations(map[string]string)      {}
func (*meta) GetFinalizers() []string               { return nil }
func (*meta) SetFinalizers([]string)                {}

func (*meta) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (*meta) SetOwnerReferences([]metav1.OwnerReference)    {}
func (*meta) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (*meta) SetManagedFields([]metav1.ManagedFieldsEntry)  {}

// metaOf is what the plugin keeps of o's metadata.
func metaOf(o metav1.Object) meta {
	return meta{namespace: o.GetNamespace(), name: o.GetName(), resourceVersion: o.GetResourceVersion()}
}

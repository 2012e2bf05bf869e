package registry

import (
	"errors"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// Every write records who changed which fields in metadata.managedFields,
// as kube-apiserver's field manager does (k8s.io/apimachinery's
// managedfields, on structured-merge-diff and the OpenAPI schemas): creates,
// updates and patches as operation Update under their manager, server-side
// apply as operation Apply. Writers that name no manager (Shoal's own
// controllers, in process) are recorded as ControllerManager.

// ControllerManager is the field manager of Shoal's in-process controllers,
// as kube-controller-manager is Kubernetes'.
const ControllerManager = "shoal-controller-manager"

// fieldManagerKey names one field manager: a resource at a version, for
// its main resource or a subresource.
type fieldManagerKey struct {
	info        *Info
	gv          schema.GroupVersion
	subresource string
}

var fieldManagers = struct {
	sync.Mutex
	m map[fieldManagerKey]*managedfields.FieldManager
}{m: map[fieldManagerKey]*managedfields.FieldManager{}}

var typeConverter = sync.OnceValues(func() (managedfields.TypeConverter, error) {
	s, err := Schemas()
	if err != nil {
		return nil, err
	}
	return s.TypeConverter()
})

// fieldManager returns the field manager of info at gv (its stored
// version, or another it is served at) for subresource "" or "status".
func fieldManager(info *Info, gv schema.GroupVersion, subresource string) (*managedfields.FieldManager, error) {
	key := fieldManagerKey{info, gv, subresource}
	fieldManagers.Lock()
	defer fieldManagers.Unlock()
	if fm, ok := fieldManagers.m[key]; ok {
		return fm, nil
	}
	tc, err := typeConverter()
	if err != nil {
		return nil, fmt.Errorf("field manager: %w", err)
	}
	fm, err := managedfields.NewDefaultFieldManager(tc, converter{}, defaulter{}, clientscheme.Scheme,
		gv.WithKind(info.Kind), info.GroupVersion, subresource, resetFields(info, gv, subresource))
	if err != nil {
		return nil, fmt.Errorf("field manager of %s: %w", info.Name, err)
	}
	fieldManagers.m[key] = fm
	return fm, nil
}

// resetFields are the fields a write cannot change, so that no manager
// owns them through it: the status through the main resource, everything
// but the status through the status subresource (prepareUpdate).
func resetFields(info *Info, gv schema.GroupVersion, subresource string) map[fieldpath.APIVersion]fieldpath.Filter {
	if !info.Status {
		return nil
	}
	f := fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))
	if subresource == "status" {
		f = statusOnly{}
	}
	return map[fieldpath.APIVersion]fieldpath.Filter{fieldpath.APIVersion(gv.String()): f}
}

// statusOnly keeps the status and drops every other field.
type statusOnly struct{}

func (statusOnly) Filter(s *fieldpath.Set) *fieldpath.Set {
	out := fieldpath.NewSet()
	s.Iterate(func(p fieldpath.Path) {
		if len(p) > 0 && p[0].FieldName != nil && *p[0].FieldName == "status" {
			out.Insert(p)
		}
	})
	return out
}

// trackUpdate records manager's change from live to next in next's
// managedFields (operation Update), as kube-apiserver does for every write
// that is not an apply. A failure keeps live's managedFields, as
// kube-apiserver's UpdateNoErrors does, and is logged without the values
// (schemaErrors).
func (r *Registry) trackUpdate(info *Info, subresource string, live, next store.Object, manager string) store.Object {
	if r.untracked || subresource != "" && subresource != "status" {
		return next
	}
	fm, err := fieldManager(info, info.GroupVersion, subresource)
	if err == nil {
		live.GetObjectKind().SetGroupVersionKind(info.GroupVersionKind())
		next.GetObjectKind().SetGroupVersionKind(info.GroupVersionKind())
		var out runtime.Object
		if out, err = fm.Update(live, next, managerOrDefault(manager)); err == nil {
			if obj, ok := out.(store.Object); ok {
				return obj
			}
			err = errNoConversion
		}
	}
	r.trackFailures.Do(func() {
		msg, ok := schemaErrors(next)
		if !ok {
			msg = err.Error()
		}
		r.Log.Warn("managedFields not updated; the previous ones kept", "resource", info.Name,
			"namespace", next.GetNamespace(), "name", next.GetName(), "manager", managerOrDefault(manager), "err", msg)
	})
	next.SetManagedFields(live.GetManagedFields())
	return next
}

func managerOrDefault(m string) string {
	if m == "" {
		return ControllerManager
	}
	return m
}

// converter converts objects between the versions a resource is served at
// (ServedVersions), and unstructured objects to typed ones, for the field
// manager: kube-apiserver's scheme does this with its internal versions.
type converter struct{}

var errNoConversion = errors.New("no such conversion")

func (converter) Convert(in, out, context any) error { return errNoConversion }

func (converter) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return "", "", errNoConversion
}

func (converter) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	gvk := in.GetObjectKind().GroupVersionKind()
	if gvk.Empty() {
		// A new object of the scheme's, which has its kind only in its type.
		kinds, _, err := clientscheme.Scheme.ObjectKinds(in)
		if err != nil {
			return nil, err
		}
		gvk = kinds[0]
	}
	obj := in
	if u, ok := in.(runtime.Unstructured); ok {
		typed, err := clientscheme.Scheme.New(gvk)
		if err != nil {
			return nil, err
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), typed); err != nil {
			return nil, err
		}
		obj = typed
	}
	want, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{gvk})
	if !ok {
		return nil, fmt.Errorf("convert %s to %v: %w", gvk, target, errNoConversion)
	}
	if want.GroupVersion() != gvk.GroupVersion() {
		var err error
		if obj, err = convertServed(obj.(store.Object), gvk, want); err != nil {
			return nil, err
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(want)
	return obj, nil
}

// convertServed converts obj, of gvk, to another version of its resource.
func convertServed(obj store.Object, from, to schema.GroupVersionKind) (store.Object, error) {
	for _, v := range ServedVersions {
		switch {
		case v.GroupVersionKind() == from && v.Stored.GroupVersionKind() == to:
			return v.ToStored(obj)
		case v.Stored.GroupVersionKind() == from && v.GroupVersionKind() == to:
			return v.FromStored(obj)
		}
	}
	return nil, fmt.Errorf("convert %s to %s: %w", from, to, errNoConversion)
}

// defaulter defaults what server-side apply merged, as a write is.
type defaulter struct{}

func (defaulter) Default(obj runtime.Object) { SetDefaults(obj) }

// trackCreate records manager as the creator of every field of obj.
func (r *Registry) trackCreate(info *Info, obj store.Object, manager string) store.Object {
	live := info.New()
	live.SetName(obj.GetName())
	live.SetNamespace(obj.GetNamespace())
	return r.trackUpdate(info, "", live, obj, manager)
}

// Package table converts typed API objects into meta.k8s.io/v1 Table
// responses, the server-side printing that kubectl requests with
// "Accept: application/json;as=Table;v=v1;g=meta.k8s.io".
//
// Columns and cells mirror Kubernetes' own printers
// (k8s.io/kubernetes/pkg/printers/internalversion), so the real kubectl prints
// the same output against Shoal as against Kubernetes. Like the Kubernetes API
// server, every row always carries the wide (priority 1) cells; kubectl hides
// them unless asked for -o wide. The package is pure: objects in, Table out.
package table

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

// rowFunc renders the cells (and row conditions) of one object, in column
// order. Convert fills the row's Object.
type rowFunc func(obj runtime.Object, now time.Time) (metav1.TableRow, error)

// printer is the table layout of one kind.
type printer struct {
	columns []metav1.TableColumnDefinition
	row     rowFunc
	// version is the API version of the kind, used to set apiVersion/kind on
	// embedded objects that arrive without TypeMeta. Empty for the fallback.
	version string
}

// printers holds every kind with a dedicated layout; the other kinds get
// fallbackPrinter. Each group's file adds its kinds in an init function.
var printers = map[schema.GroupKind]printer{}

func register(gk schema.GroupKind, version string, columns []metav1.TableColumnDefinition, row rowFunc) {
	printers[gk] = printer{columns: columns, row: row, version: version}
}

var (
	nameDoc    = metav1.ObjectMeta{}.SwaggerDoc()["name"]
	createdDoc = metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]

	// nameColumn and ageColumn are the first and usual last columns of
	// almost every Kubernetes printer.
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: nameDoc}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: createdDoc}
)

// fallbackPrinter prints NAME AGE for kinds without a dedicated layout.
var fallbackPrinter = printer{
	columns: []metav1.TableColumnDefinition{nameColumn, ageColumn},
	row: func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
		m, err := accessor(obj)
		if err != nil {
			return metav1.TableRow{}, err
		}
		return metav1.TableRow{Cells: []any{m.GetName(), age(m.GetCreationTimestamp(), now)}}, nil
	},
}

// Convert builds the Table for objects of one kind (gk), e.g.
// {Group: "", Kind: "Pod"}. objs may be empty: the columns are still
// returned. include is the request's includeObject: IncludeNone,
// IncludeMetadata (the default, also for "") or IncludeObject. now is the
// reference time for the AGE-like cells.
//
// Kinds without a dedicated layout print NAME and AGE. The caller sets the
// Table's ListMeta (resourceVersion, continue).
func Convert(gk schema.GroupKind, objs []runtime.Object, include metav1.IncludeObjectPolicy, now time.Time) (*metav1.Table, error) {
	switch include {
	case "", metav1.IncludeMetadata, metav1.IncludeNone, metav1.IncludeObject:
	default:
		return nil, fmt.Errorf("%w: %q", ErrIncludeObject, include)
	}
	p, ok := printers[gk]
	if !ok {
		p = fallbackPrinter
	}
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: metav1.SchemeGroupVersion.String(), Kind: "Table"},
		ColumnDefinitions: slices.Clone(p.columns),
		Rows:              make([]metav1.TableRow, 0, len(objs)),
	}
	for i, obj := range objs {
		if obj == nil {
			return nil, fmt.Errorf("print %s row %d: %w", gk.Kind, i, ErrNoMetadata)
		}
		row, err := p.row(obj, now)
		if err != nil {
			return nil, fmt.Errorf("print %s row %d: %w", gk.Kind, i, err)
		}
		if row.Object, err = embed(gk, p.version, obj, include); err != nil {
			return nil, fmt.Errorf("print %s row %d: %w", gk.Kind, i, err)
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// embed returns what a row carries besides its cells, as the API server does:
// nothing, the object's metadata as a PartialObjectMetadata (kubectl reads the
// namespace for -A and the labels for --show-labels from it), or the object.
func embed(gk schema.GroupKind, version string, obj runtime.Object, include metav1.IncludeObjectPolicy) (runtime.RawExtension, error) {
	switch include {
	case metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	case metav1.IncludeObject:
		if version != "" && obj.GetObjectKind().GroupVersionKind().Kind == "" {
			obj = obj.DeepCopyObject()
			obj.GetObjectKind().SetGroupVersionKind(gk.WithVersion(version))
		}
		return runtime.RawExtension{Object: obj}, nil
	}
	m, err := accessor(obj)
	if err != nil {
		return runtime.RawExtension{}, err
	}
	partial := meta.AsPartialObjectMetadata(m).DeepCopy()
	partial.TypeMeta = metav1.TypeMeta{APIVersion: metav1.SchemeGroupVersion.String(), Kind: "PartialObjectMetadata"}
	return runtime.RawExtension{Object: partial}, nil
}

func accessor(obj runtime.Object) (metav1.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: %T", ErrNoMetadata, obj)
	}
	return m, nil
}

// rowOf adapts a printer of one typed kind to a rowFunc. It accepts the typed
// object and, for callers that hold unstructured data, an Unstructured of the
// same kind.
func rowOf[T any, P interface {
	*T
	runtime.Object
}](render func(P, time.Time) metav1.TableRow) rowFunc {
	return func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
		switch o := obj.(type) {
		case P:
			return render(o, now), nil
		case *unstructured.Unstructured:
			typed := P(new(T))
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.UnstructuredContent(), typed); err != nil {
				return metav1.TableRow{}, fmt.Errorf("convert %s from unstructured: %w", o.GetKind(), err)
			}
			return render(typed, now), nil
		}
		return metav1.TableRow{}, fmt.Errorf("%w: %T", ErrUnexpectedType, obj)
	}
}

// cells is shorthand for a row with only cells.
func cells(c ...any) metav1.TableRow { return metav1.TableRow{Cells: c} }

// age renders a timestamp as kubectl's AGE: HumanDuration since t, or
// "<unknown>" when t is unset.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// orNone returns s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

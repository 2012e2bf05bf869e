package registry

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// The field manager's errors print the values that do not fit the schema
// (".data.k: expected string, got &value.valueUnstructured{Value:...}"):
// kube-apiserver answers with them as they are. Shoal names the field and
// the kind of value instead, so that no value of a Secret (or anything
// else) reaches an error, a log or an event.

// applyError turns the field manager's errors into API errors: its
// conflicts are already Kubernetes' 409; anything else is in the applied
// configuration (a field the schema does not have, a value of the wrong
// type, a list item without its key), so a 400 that names the field.
func applyError(a ApplyRequest, err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return err
	}
	if msg, ok := schemaErrors(a.Patch); ok {
		return apierrors.NewBadRequest(fmt.Sprintf("the applied %s %s does not match its schema: %s",
			a.GroupVersion, a.Info.Kind, msg))
	}
	return apierrors.NewBadRequest(err.Error())
}

// schemaErrors checks obj against its schema and reports what does not
// fit, without the values; ok is false when everything fits (the field
// manager failed for another reason).
func schemaErrors(obj runtime.Object) (msg string, ok bool) {
	tc, err := typeConverter()
	if err != nil {
		return "", false
	}
	_, err = tc.ObjectToTyped(obj)
	var ve typed.ValidationErrors
	if !errors.As(err, &ve) {
		return "", false
	}
	out := make([]string, len(ve))
	for i, e := range ve {
		e.ErrorMessage = withoutValue(e.ErrorMessage)
		out[i] = e.Error()
	}
	slices.Sort(out) // the fields of a map are walked in any order
	return strings.Join(out, "; "), true
}

// withoutValue replaces what follows "got " in a structured-merge-diff
// message (the value, printed with %v or %#v) by the kind of value it is.
func withoutValue(msg string) string {
	head, v, ok := strings.Cut(msg, ", got ")
	if !ok {
		return msg
	}
	return head + ", got " + kindOfPrinted(v)
}

// kindOfPrinted names the kind of a value as structured-merge-diff prints
// it: &value.valueUnstructured{Value:…} (%#v) or &{…} (%v) around Go's
// printing of the decoded JSON, or a Go type's name (%T).
func kindOfPrinted(v string) string {
	v = strings.TrimPrefix(v, "&value.valueUnstructured{Value:")
	v, raw := strings.CutPrefix(v, "&{") // %v prints a string without quotes
	switch {
	case strings.HasPrefix(v, "map["):
		return "an object"
	case strings.HasPrefix(v, "[]interface") || strings.HasPrefix(v, "["):
		return "a list"
	case strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "string"):
		return "a string"
	case strings.HasPrefix(v, "true") || strings.HasPrefix(v, "false") || strings.HasPrefix(v, "bool"):
		return "a boolean"
	case strings.HasPrefix(v, "<nil>") || strings.HasPrefix(v, "nil"):
		return "null"
	case v != "" && strings.ContainsRune("-0123456789", rune(v[0])) || strings.HasPrefix(v, "int") || strings.HasPrefix(v, "float"):
		return "a number"
	case raw:
		return "a string"
	}
	return "a value of another type"
}

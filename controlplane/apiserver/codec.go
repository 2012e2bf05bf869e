package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/shoalmesh/shoal/controlplane/registry"
	"github.com/shoalmesh/shoal/controlplane/store"
)

// writeJSON writes v with code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
	w.Write([]byte("\n"))
}

// writeError answers err as a metav1.Status, the form every Kubernetes
// client understands (kubectl prints its message).
func writeError(w http.ResponseWriter, err error) {
	st := statusOf(err)
	writeJSON(w, int(st.Code), st)
}

func statusOf(err error) *metav1.Status {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		return &st
	}
	st := apierrors.NewInternalError(err).Status()
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

// addWarnings adds Warning headers as Kubernetes does (kubectl prints them).
func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", `299 - `+strconv.Quote(msg))
	}
}

// fieldValidation is the request's fieldValidation: Strict, Warn or Ignore.
// Kubernetes' default is Warn.
func fieldValidation(r *http.Request) (string, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return "Warn", nil
	case "Strict", "Warn", "Ignore":
		return v, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation: Unsupported value: %q: supported values: \"Ignore\", \"Strict\", \"Warn\"", v))
	}
}

// readBody reads a request body up to limit bytes; more is a 413.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	if int64(len(b)) > limit {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", limit))
	}
	return b, nil
}

// toJSON turns a body into JSON: YAML is accepted as Kubernetes does.
func toJSON(r *http.Request, body []byte) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if strings.HasSuffix(ct, "yaml") {
		j, err := yaml.YAMLToJSON(body)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request was in an unknown format: %v", err))
		}
		return j, nil
	}
	if ct == protobufType {
		// kubectl's typed clients (kubectl create service ...) send protobuf.
		obj, _, err := protobufCodec.Decode(body, nil, nil)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the protobuf body of the request could not be decoded: %v", err))
		}
		return json.Marshal(obj)
	}
	if ct == "application/cbor" {
		return nil, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType,
			Reason: metav1.StatusReasonUnsupportedMediaType, Message: fmt.Sprintf("the body of the request was in an unsupported format (%s); send JSON or YAML", ct)}}
	}
	return body, nil
}

// decodeObject decodes a request body into a new object of info's kind. Under
// fieldValidation=Strict, unknown and duplicate fields are a 422 naming each
// field; under Warn they are warnings.
func decodeObject(r *http.Request, info *registry.Info, body []byte, validation string) (store.Object, []string, error) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == protobufType {
		return decodeProtobuf(info, body)
	}
	data, err := toJSON(r, body)
	if err != nil {
		return nil, nil, err
	}
	obj := info.New()
	strictErrs, err := sigsjson.UnmarshalStrict(data, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as a %s: %v", info.Kind, err))
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if (gvk.Kind != "" && gvk.Kind != info.Kind) || (gvk.Version != "" && gvk.GroupVersion() != info.GroupVersion) {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the object sent is a %s %s, but this is the endpoint of %s %s",
			gvk.GroupVersion(), gvk.Kind, info.GroupVersion, info.Kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(info.GroupVersionKind())
	warnings, err := strictResult(info.GroupVersionKind().GroupKind(), obj.GetName(), strictErrs, validation)
	return obj, warnings, err
}

// strictResult turns unknown/duplicate field errors into a 422 or warnings.
func strictResult(gk schema.GroupKind, name string, strictErrs []error, validation string) ([]string, error) {
	if len(strictErrs) == 0 || validation == "Ignore" {
		return nil, nil
	}
	if validation == "Warn" {
		var out []string
		for _, e := range strictErrs {
			out = append(out, e.Error())
		}
		return out, nil
	}
	// A 422 whose causes kubectl prints as "spec.foo: unknown field".
	st := metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid,
		Details: &metav1.StatusDetails{Group: gk.Group, Kind: gk.Kind, Name: name},
	}
	var msgs []string
	for _, e := range strictErrs {
		path, detail := fieldOfStrictError(e)
		st.Details.Causes = append(st.Details.Causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueNotSupported, Field: path, Message: detail})
		msgs = append(msgs, path+": "+detail)
	}
	st.Message = fmt.Sprintf("%s %q is invalid: %s", gk.Kind, name, strings.Join(msgs, ", "))
	return nil, &apierrors.StatusError{ErrStatus: st}
}

// decodeProtobuf decodes what client-go's typed clients send by default
// straight into the resource's type. Protobuf has no unknown-field problem
// for fieldValidation to report.
func decodeProtobuf(info *registry.Info, body []byte) (store.Object, []string, error) {
	into := info.New()
	out, gvk, err := protobufCodec.Decode(body, nil, into)
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the protobuf body of the request could not be decoded as a %s: %v", info.Kind, err))
	}
	obj, ok := out.(store.Object)
	if !ok || gvk == nil || gvk.Kind != info.Kind || gvk.GroupVersion() != info.GroupVersion {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the object sent is a %v, but this is the endpoint of %s %s", gvk, info.GroupVersion, info.Kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(info.GroupVersionKind())
	return obj, nil, nil
}

// protobufType is Kubernetes' protobuf media type, which client-go's typed
// clients send and ask for first.
const protobufType = "application/vnd.kubernetes.protobuf"

// acceptsProtobuf reports whether the client prefers protobuf answers: its
// first listed media type is protobuf (client-go's "protobuf, json"), and
// plain: one that asks for another shape ("as=PartialObjectMetadataList",
// client-go's metadata client) cannot take the typed object, so it gets JSON.
func acceptsProtobuf(r *http.Request) bool {
	first, _, _ := strings.Cut(r.Header.Get("Accept"), ",")
	mt, params, err := mime.ParseMediaType(strings.TrimSpace(first))
	return err == nil && mt == protobufType && params["as"] == ""
}

// writeProtobuf writes obj (a typed object or list) as protobuf.
func writeProtobuf(w http.ResponseWriter, code int, obj runtime.Object) {
	var buf bytes.Buffer
	if err := protobufCodec.Encode(obj, &buf); err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("encode protobuf: %w", err)))
		return
	}
	w.Header().Set("Content-Type", protobufType)
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// protobufCodec decodes Kubernetes' protobuf envelope into typed objects.
var protobufCodec = protobuf.NewSerializer(clientscheme.Scheme, clientscheme.Scheme)

// fieldOfStrictError extracts the field path from sigs.k8s.io/json's
// `unknown field "spec.foo"` and `duplicate field "x"`.
func fieldOfStrictError(e error) (path, detail string) {
	msg := e.Error()
	if i := strings.IndexByte(msg, '"'); i >= 0 {
		if j := strings.LastIndexByte(msg, '"'); j > i {
			return msg[i+1 : j], strings.TrimSpace(msg[:i])
		}
	}
	return "<body>", msg
}

// tableRequest reports whether the client asked for a Table (kubectl get).
func tableRequest(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/json" {
			continue
		}
		if params["as"] == "Table" && params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
			return true
		}
	}
	return false
}

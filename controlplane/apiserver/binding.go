package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// serveBinding serves POST pods/{name}/binding, which kube-scheduler and
// client-go's Pods(ns).Bind use to assign a pod to a node. Kubernetes
// answers a Success Status, not the pod.
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, ri requestInfo) {
	if ri.Verb != "create" {
		writeError(w, apierrors.NewMethodNotSupported(ri.groupResource(), r.Method+" on binding"))
		return
	}
	wr, err := s.readWrite(r)
	if err == nil {
		// client-go sends the Binding as protobuf.
		wr.body, err = toJSON(r, wr.body)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	b := &corev1.Binding{}
	if err := json.Unmarshal(wr.body, b); err != nil {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as a Binding: %v", err)))
		return
	}
	if b.Kind != "" && b.Kind != "Binding" {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the body of the request is a %s; pods/binding takes a Binding", b.Kind)))
		return
	}
	switch b.Namespace {
	case "":
		b.Namespace = ri.Namespace
	case ri.Namespace:
	default:
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the provided object (%s) does not match the namespace sent on the request (%s)", b.Namespace, ri.Namespace)))
		return
	}
	switch b.Name {
	case "":
		b.Name = ri.Name
	case ri.Name:
	default:
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("the name of the binding (%s) does not match the pod on the URL (%s)", b.Name, ri.Name)))
		return
	}
	if _, err := s.reg.Bind(r.Context(), b, wr.opts); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

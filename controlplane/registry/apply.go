package registry

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/shoalmesh/shoal/controlplane/store"
)

// ApplyRequest is a server-side apply: the configuration Manager applies
// to an object of Info, as GroupVersion (the request's version) shapes it.
type ApplyRequest struct {
	Info                         *Info
	GroupVersion                 schema.GroupVersion
	Namespace, Name, Subresource string
	// Patch is the applied configuration (apiVersion, kind, metadata.name
	// and what the manager wants set).
	Patch *unstructured.Unstructured
	// Manager is the field manager; Force takes the fields other managers
	// own instead of failing with a conflict.
	Manager string
	Force   bool
}

// Apply merges a.Patch into the object, as kube-apiserver's server-side
// apply does: the fields a.Manager applied before and no longer applies
// are removed, fields other managers own are a 409 conflict naming them
// (unless a.Force), and managedFields records the result. An object that
// does not exist is created.
func (r *Registry) Apply(ctx context.Context, a ApplyRequest, opts WriteOptions) (Result, error) {
	fm, err := fieldManager(a.Info, a.GroupVersion, a.Subresource)
	if err != nil {
		return Result{}, apierrors.NewInternalError(err)
	}
	opts.applied = true
	opts.FieldManager = a.Manager
	for attempt := 0; ; attempt++ {
		res, err := r.Update(ctx, a.Info, a.Namespace, a.Name, a.Subresource, func(cur store.Object) (store.Object, error) {
			return applyTo(fm, a, cur)
		}, opts)
		if !apierrors.IsNotFound(err) || a.Subresource != "" || attempt > 0 {
			return res, err
		}
		live := a.Info.New()
		live.SetName(a.Name)
		live.SetNamespace(a.Namespace)
		obj, err := applyTo(fm, a, live)
		if err != nil {
			return Result{}, err
		}
		res, err = r.Create(ctx, a.Info, obj, opts)
		if !apierrors.IsAlreadyExists(err) {
			return res, err
		}
		// Created by another writer meanwhile: apply to it.
	}
}

// applyTo merges a's configuration into cur (a private copy).
func applyTo(fm *managedfields.FieldManager, a ApplyRequest, cur store.Object) (store.Object, error) {
	curRV := cur.GetResourceVersion()
	cur.GetObjectKind().SetGroupVersionKind(a.Info.GroupVersionKind())
	out, err := fm.Apply(cur, a.Patch.DeepCopy(), a.Manager, a.Force)
	if err != nil {
		return nil, applyError(a, err)
	}
	obj, ok := out.(store.Object)
	if !ok {
		return nil, apierrors.NewInternalError(errNoConversion)
	}
	// A configuration that leaves resourceVersion alone applies to whatever
	// is current; one that sets it is a precondition.
	if obj.GetResourceVersion() == curRV {
		obj.SetResourceVersion("")
	}
	return obj, nil
}

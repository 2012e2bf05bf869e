// Package store is Shoal's storage of Kubernetes objects in etcd.
//
// Objects are JSON in keys laid out as Kubernetes lays them out
// (/registry/services/specs/<ns>/<name>, /registry/pods/<ns>/<name>, ...).
// An object's resourceVersion is its etcd mod revision, and every update is a
// compare-and-swap on it, so a writer holding a stale copy gets 409 Conflict.
//
// Errors are Kubernetes API errors (k8s.io/apimachinery/pkg/api/errors), so
// the API server passes them through unchanged and other callers test them
// with apierrors.IsNotFound and friends.
//
// Cache is the shared, resumable view of one resource (list at revision R,
// watch from R+1, re-list on compaction) that the API server, DNS, xDS,
// controllers and scheduler read instead of etcd.
//
// Which resources exist and where each lives is package api's (api.Resource,
// api.Services, ...); Object and Resource here are the same types.
//
//	st := store.New(client)
//	svc, err := st.Get(ctx, api.Services.Resource, "default", "web")
package store

// Package apiserver is Shoal's Kubernetes API: discovery, REST handlers for
// the resources the registry serves (get, list, watch, create, update, patch,
// delete, and the status and scale subresources), Table output for kubectl,
// bearer-token authentication and role authorization, over HTTPS.
//
// It is a thin HTTP layer: every write goes through registry.Registry, every
// read through store.Store, so the same rules hold for in-process writers.
package apiserver

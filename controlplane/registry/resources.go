package registry

import "github.com/shoalmesh/shoal/api"

// Info describes a resource the API serves; see api.Info.
type Info = api.Info

// The resources Shoal serves, as package api describes them. The registry
// applies its rules (defaults.go, validation*.go) to these; the API server,
// controllers and scheduler name resources through the registry they write
// through, readers of the store (DNS, xDS) through api.
var (
	Namespaces     = api.Namespaces
	Services       = api.Services
	Pods           = api.Pods
	Nodes          = api.Nodes
	Endpoints      = api.Endpoints
	Events         = api.Events
	Deployments    = api.Deployments
	ReplicaSets    = api.ReplicaSets
	EndpointSlices = api.EndpointSlices
	Leases         = api.Leases

	ConfigMaps      = api.ConfigMaps
	Secrets         = api.Secrets
	ServiceAccounts = api.ServiceAccounts

	// All is every resource Shoal serves, in discovery order.
	All = api.All
)

// Package dashboard is the live view of a Shoal cluster that every API
// server serves at /ui/: nodes with their measured load, each Service with
// its endpoints and, per endpoint, readiness, the EDS weight the xDS
// control plane serves, response time, in-flight requests, request and
// error rates and a plot of the last minutes of weight and latency;
// Deployments with their rollout progress; recent Events.
//
// # Data
//
// Nothing is polled from the browser and nothing is read from etcd per
// viewer. One hub per API server reads the process's shared caches
// (store.Caches: nodes, node Leases with their load reports, Services,
// EndpointSlices, Deployments, Events, Namespaces) and follows two etcd
// keys with watches: the traffic every xDS replica publishes
// (api.TrafficPrefix, from its clients' LRS reports) and the weights the
// xDS weights leader writes (api.WeightsKey). It rebuilds an immutable
// snapshot when a cache changes (at most every 200 ms) and once a second,
// when it also samples each endpoint's weight and latency into a ring of
// the last three minutes (HistoryLen).
//
// Each browser holds one server-sent-events stream (GET /ui/api/stream).
// The first message carries everything the viewer may see; each later one,
// once a second or on a change, only the items that changed and the keys
// of those gone, so a cluster of a few hundred Services costs a viewer
// little once loaded. The page keeps the newest samples itself and fetches
// a Service's backlog (GET /ui/api/history) when it is opened.
//
// # Logging in and authorization
//
// The page and its script and style are static and hold no data; they are
// the only things served without credentials. Every data request carries
// the bearer token in an Authorization header, which the page keeps in the
// tab's sessionStorage: the same tokens kubectl uses (the kubeconfig's,
// `kubectl create token`, the viewer token), checked by the API server's
// authenticators. No cookie is set, so no other site can make the browser
// send an authenticated request (no CSRF), and no token is ever in a URL.
// `shoal up` prints a login link, /ui/#login=<code>: the code is in the
// fragment, which browsers do not send, so no log holds it; the page trades
// it once (POST /ui/api/login) for a session token that stands for the
// admin token on this API server for SessionTTL. A code is good once and
// for CodeTTL.
//
// What a viewer sees is what it may list, decided by the API server's
// authorizer (RBAC) again for every message: Nodes (list nodes; their load
// with list leases in kube-node-lease), Services (list services), their
// endpoints and traffic (list endpointslices), Deployments (list
// deployments.apps), Events (list events), each cluster-wide or per
// namespace. A token that may list none of these is refused the stream
// (403).
package dashboard

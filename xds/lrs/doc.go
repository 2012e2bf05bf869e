// Package lrs is Shoal's Load Reporting Service (LRS) server: Envoy
// sidecars and proxyless gRPC clients stream their per-endpoint load to it,
// and it records that load in a [load.Table] for the weight controller.
// go-control-plane has no LRS server.
//
// On a stream, the first LoadStatsRequest must carry node.id (otherwise the
// stream ends with InvalidArgument). The server answers once, asking for
// every cluster (send_all_clusters), per-endpoint stats
// (report_endpoint_granularity, which Envoy needs) and a report every
// Options.Interval (1 s by default); Envoy and grpc-go both honour it.
//
// Each later request is attributed to endpoint IPs:
//
//   - upstream_endpoint_stats with a socket address (Envoy): each to its IP;
//   - otherwise a locality whose sub_zone is an IP (grpc-go, which reports
//     per locality only; Shoal's EDS gives each endpoint its own locality
//     with the endpoint's IP as sub_zone): the locality's totals to that IP;
//   - anything else is counted in shoal_xds_lrs_unattributed_total and
//     ignored.
//
// The counts of all clusters in one request are summed per IP (a pod can
// serve several Services) into one [load.Sample] covering the request's
// load_report_interval; in-progress requests are a snapshot. An IP the
// stream reported before but not in this request is recorded as idle for up
// to 30 s, because clients leave out endpoints that had no requests (an IP
// this request reported with absurd counts keeps its previous sample).
// Malformed parts (nil messages, missing or absurd intervals, counts that
// are absurd for the interval, such as a client counter that wrapped below
// zero) are ignored, counted in shoal_xds_lrs_malformed_total and logged
// once per stream.
//
// Each stream reports under its own key (node id + "#" + a sequence), so two
// streams of one node add up rather than overwrite each other, and its
// samples are forgotten when it ends.
//
// # Usage
//
//	table := load.NewTable()
//	lrs.New(table, lrs.Options{Logger: logger}).Register(grpcServer)
//	if err := lrs.RegisterMetrics(prometheus.DefaultRegisterer); err != nil { … }
package lrs

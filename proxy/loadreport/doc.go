// Package loadreport is the node proxy's Load Reporting Service (LRS)
// client: it tells the control plane (xds/lrs) how much work the proxy sent
// to each endpoint, as Envoy does, so the endpoint weights the control plane
// computes count the proxy's traffic.
//
// The load is counted by the balancer's hosts (balancer.Host.Stats: issued
// on Begin, succeeded or errors on Report, in progress = Active). A
// Reporter reads them once per interval and sends what changed since the
// last report it sent:
//
//   - one ClusterStats per cluster with LRS enabled (lrs_server: self) that
//     the server asks for (by name, or all with send_all_clusters), with
//     cluster_service_name = the EDS service name and load_report_interval =
//     the time the counts cover;
//   - in it one UpstreamLocalityStats per locality as EDS gave it (Shoal's
//     EDS: one per endpoint, sub_zone = the endpoint's IP) with the
//     locality's totals and, when the server sets
//     report_endpoint_granularity, one UpstreamEndpointStats per endpoint
//     address;
//   - issued, successful and error requests are counts over the interval,
//     in progress the current number. Endpoints with nothing to report are
//     left out, as Envoy leaves them out; the request is sent even if empty.
//
// A host removed from its cluster, or whose cluster is gone, is still
// reported until it has been idle for a whole interval, so the work that
// ends on it after an EDS update is not lost. Counts not sent because the
// stream failed go into the first report of the next stream (unless the
// gap exceeds five minutes). The stream is dialled, backed off and
// reconnected as xdsclient's ADS stream is.
//
// # Usage
//
//	r := loadreport.New(loadreport.Config{
//		Addr: xdsAddr, NodeID: nodeID, Logger: logger,
//		Clusters: func() map[string]loadreport.ClusterInfo {
//			mu.Lock()
//			defer mu.Unlock()
//			return loadreport.FromSnapshot(lastSnapshot, balancers)
//		},
//	})
//	go r.Run(ctx) // returns nil when ctx ends
package loadreport

package api

// LRSLatencyMetric is the name of the LRS load metric (load_metric_stats)
// carrying response times in seconds: the number of timed requests and
// their total. Shoal's proxy reports it per endpoint; the control plane's
// load table turns it into each endpoint's mean latency.
const LRSLatencyMetric = "shoal.io/latency_seconds"

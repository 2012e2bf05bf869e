package benchenv

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DurationQuantile is the q-quantile (0 ≤ q ≤ 1) of ds by the nearest-rank
// method: the smallest value with at least q of the samples at or below it.
// ds is not modified; zero if it is empty.
func DurationQuantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// GatherMetrics is the samples of an in-process Prometheus registry, read
// from the text its /metrics handler serves, as a scrape would read them.
func GatherMetrics(g prometheus.Gatherer) (Metrics, error) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("gather metrics: %d %s", rec.Code, rec.Body.String())
	}
	return ParseMetrics(rec.Body)
}

// HistogramQuantile estimates the q-quantile of the Prometheus histogram
// name (its name_bucket samples whose labels include the pairs given) as
// PromQL's histogram_quantile does: linear within the bucket it falls in.
// ok is false without buckets or observations. The answer is only as fine
// as the buckets; a quantile in the +Inf bucket is the largest finite bound.
func (m Metrics) HistogramQuantile(q float64, name string, labels ...string) (v float64, ok bool) {
	type bucket struct{ le, count float64 }
	var bs []bucket
next:
	for _, s := range m {
		if s.Name != name+"_bucket" {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil {
			continue
		}
		// Several series (other labels) add up bucket by bucket.
		if j := slices.IndexFunc(bs, func(b bucket) bool { return b.le == le }); j >= 0 {
			bs[j].count += s.Value
		} else {
			bs = append(bs, bucket{le, s.Value})
		}
	}
	slices.SortFunc(bs, func(a, b bucket) int {
		switch {
		case a.le < b.le:
			return -1
		case a.le > b.le:
			return 1
		}
		return 0
	})
	if len(bs) == 0 || bs[len(bs)-1].count == 0 {
		return 0, false
	}
	rank := q * bs[len(bs)-1].count
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lower, true
			}
			if b.count == below {
				return b.le, true
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below), true
		}
		lower, below = b.le, b.count
	}
	return lower, true
}

// Spread is the median of a few measurements (the mean of the middle two
// when there is an even number) and their range.
type Spread struct{ Median, Min, Max float64 }

// SpreadOf summarizes xs; zero if it is empty. xs is not modified.
func SpreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: m, Min: s[0], Max: s[len(s)-1]}
}

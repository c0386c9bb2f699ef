package main

import (
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The counters dtbench reads from the server's /metrics around each window.
const (
	// mallocsMetric is the Go collector's count of heap allocations: the
	// runtime's counters, tiny allocations included, as testing.B counts.
	mallocsMetric = "go_memstats_mallocs_total"
	// tripsMetric counts the server's round trips to Redis, by command.
	tripsMetric = "deploytokens_store_round_trips_total"
)

// scrape answers the sums of the counters names over their series in the
// server's /metrics at addr; a counter it does not serve is missing from
// the answer. It fails when the server serves no metrics there
// (DEPLOYTOKENS_METRICS_LISTEN unknown to it): its figures then read n/a.
func scrape(addr string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	// The text format, whatever else the server could negotiate.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := probe.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseCounters(resp.Body, names...)
}

// parseCounters answers the sums of the counters names over their series
// in the Prometheus text exposition r.
func parseCounters(r io.Reader, names ...string) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	out := map[string]float64{}
	for _, name := range names {
		for _, m := range fams[name].GetMetric() {
			if m.GetCounter() == nil {
				return nil, fmt.Errorf("/metrics: %s is not a counter", name)
			}
			out[name] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// perRequest answers the growth of counter name between two scrapes per
// request, negative when either scrape lacks it.
func perRequest(before, after map[string]float64, name string, requests int64) float64 {
	b, okB := before[name]
	a, okA := after[name]
	if !okA || !okB || requests <= 0 {
		return -1
	}
	return (a - b) / float64(requests)
}

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
// /metrics served at addr (in the text format: dtbench asks for no other);
// a counter it does not serve is missing from the answer.
func scrape(addr string, names ...string) (map[string]float64, error) {
	resp, err := probe.Get("http://" + addr + "/metrics")
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

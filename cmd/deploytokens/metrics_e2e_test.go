package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/deploytokens/deploytokens/tokens"
)

// scrape is one read of /metrics: every sample by its name and labels,
// written name{a="x",b="y"} with the labels in order; a histogram's
// sample is its count.
type scrape map[string]float64

func (s *testServer) scrape(t *testing.T) scrape {
	t.Helper()
	if s.app.metricsLn == nil {
		t.Fatal("no metrics listener")
	}
	resp, err := http.Get("http://" + s.app.metricsLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not in the text format: %v", err)
	}
	out := scrape{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[name+labelString(m.GetLabel())] = sampleValue(m)
		}
	}
	return out
}

func labelString(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// sum adds the samples of the metric name whose labels hold every one of
// labels (like `code="200"`).
func (s scrape) sum(name string, labels ...string) float64 {
	var n float64
next:
	for k, v := range s {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(k, l) {
				continue next
			}
		}
		n += v
	}
	return n
}

// TestMetrics: with a metrics listener, a token request moves the request,
// token, store and cache counters, failed logins the failure and ban
// counters, an offline login the refresh token counter; no label holds a
// username, a secret or a project path; the server's own listener serves no
// metrics; pprof is there only when asked.
func TestMetrics(t *testing.T) {
	tests := []struct {
		name  string
		redis bool
		alg   string
		pprof bool
	}{
		{name: "redis, ES256", redis: true, alg: "ES256"},
		{name: "embedded store, EdDSA, pprof", alg: "EdDSA", pprof: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var useRedis func(*Config)
			if tt.redis {
				useRedis = redisConfig(t)
			}
			s := startServer(t, func(c *Config) {
				if useRedis != nil {
					useRedis(c)
				}
				c.MetricsListen, c.MetricsPprof = "127.0.0.1:0", tt.pprof
				c.SigningAlg = tt.alg
				c.AuthMaxFailures = 2
			})
			s.project(t, s.AdminToken, "tanuki/secret-app", "private")
			d := s.deployToken(t, s.AdminToken, "tanuki/secret-app", map[string]any{"name": "ci", "scopes": []string{"read_registry"}})

			jwtOK := []string{`route="/jwt/auth"`, `code="200"`, `method="GET"`}
			before := s.scrape(t)
			if r := tokenRequest(t, s, d.Username, d.Token, "repository:tanuki/secret-app:pull"); r.Status != 200 {
				t.Fatalf("token request: %d %s", r.Status, r.Body)
			}
			after := s.scrape(t)
			moved := func(what, name string, want float64, labels ...string) {
				t.Helper()
				if got := after.sum(name, labels...) - before.sum(name, labels...); got != want {
					t.Errorf("%s: %s%v moved by %v, want %v", what, name, labels, got, want)
				}
			}
			moved("token request", "deploytokens_http_requests_total", 1, jwtOK...)
			moved("token request", "deploytokens_http_request_duration_seconds", 1, jwtOK...)
			moved("token request", "deploytokens_registry_tokens_issued_total", 1, `alg="`+tt.alg+`"`)
			moved("token request", "deploytokens_registry_tokens_issued_total", 1)
			moved("token request", "deploytokens_refresh_tokens_issued_total", 0)
			moved("token request", "deploytokens_auth_failures_total", 0)
			if tt.redis {
				// The deploy token and the ban are read by a script; other
				// round trips (the cache's polls, the key set's) may come
				// along.
				if n := after.sum("deploytokens_store_round_trips_total", `command="eval`) - before.sum("deploytokens_store_round_trips_total", `command="eval`); n < 1 {
					t.Errorf("token request: %v script round trips", n)
				}
				// Never seen before: the cache can't have it.
				moved("token request", "deploytokens_cache_misses_total", 1)
			} else if n := after.sum("deploytokens_store_round_trips_total"); n != 0 {
				t.Errorf("the embedded store counts %v round trips", n)
			}

			// Failed logins from one address: the second bans it.
			before = after
			for range 2 {
				if r := tokenRequest(t, s, d.Username, "dtd_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); r.Status != 401 {
					t.Fatalf("wrong secret: %d %s", r.Status, r.Body)
				}
			}
			after = s.scrape(t)
			moved("failed logins", "deploytokens_auth_failures_total", 2)
			moved("failed logins", "deploytokens_auth_bans_total", 1)
			moved("failed logins", "deploytokens_http_requests_total", 2, `route="/jwt/auth"`, `code="401"`)
			moved("failed logins", "deploytokens_registry_tokens_issued_total", 0)
			before = after
			if r := tokenRequest(t, s, d.Username, d.Token); r.Status != 429 {
				t.Fatalf("banned address: %d %s", r.Status, r.Body)
			}
			after = s.scrape(t)
			moved("banned", "deploytokens_http_requests_total", 1, `route="/jwt/auth"`, `code="429"`)
			moved("banned", "deploytokens_auth_failures_total", 0)
			if err := s.app.store.Delete(t.Context(), tokens.BanKey("127.0.0.1")); err != nil {
				t.Fatalf("lift the ban: %v", err)
			}

			// An offline login issues a refresh token.
			before = after
			q := url.Values{"service": {s.cfg.RegistryService}, "offline_token": {"true"}}
			req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?"+q.Encode(), nil)
			req.SetBasicAuth(d.Username, d.Token)
			if r := do(t, req); r.Status != 200 || !strings.Contains(string(r.Body), "dtr_") {
				t.Fatalf("offline login: %d", r.Status)
			}
			after = s.scrape(t)
			moved("offline login", "deploytokens_refresh_tokens_issued_total", 1)

			// Requests nothing routes, and git's, have fixed labels.
			s.api(t, "GET", "/projects/"+url.PathEscape("tanuki/secret-app"), s.AdminToken, nil)
			do(t, mustRequest(t, "GET", s.URL+"/tanuki/secret-app.git/info/refs?service=git-upload-pack"))
			after = s.scrape(t)
			if after.sum("deploytokens_http_requests_total", `route="/api/v4/projects/:id"`) < 1 {
				t.Error("no request counted under the route template /api/v4/projects/:id")
			}
			if after.sum("deploytokens_http_requests_total", `route="/:project.git/info/refs"`, `code="401"`) != 1 {
				t.Errorf("git info/refs not counted under its own route: %v", after.sum("deploytokens_http_requests_total", `route="/:project.git/info/refs"`))
			}
			for k := range after {
				for _, v := range []string{d.Username, d.Token, "secret-app", "tanuki", s.AdminToken} {
					if strings.Contains(k, v) {
						t.Errorf("a label holds %q: %s", v, k)
					}
				}
			}
			for _, name := range []string{"go_memstats_mallocs_total", "go_goroutines", "process_cpu_seconds_total", "deploytokens_build_info",
				"deploytokens_git_backends_busy", "deploytokens_git_backends_waiting", "deploytokens_git_backends_max"} {
				if !hasName(after, name) {
					t.Errorf("/metrics lacks %s", name)
				}
			}
			// Only Redis has round trips and a cache.
			for _, name := range []string{"deploytokens_store_round_trips_total", "deploytokens_cache_hits_total", "deploytokens_cache_misses_total"} {
				if hasName(after, name) != tt.redis {
					t.Errorf("with redis %v, /metrics has %s: %v", tt.redis, name, !tt.redis)
				}
			}

			// The server's own listener has no metrics; pprof is on the
			// metrics listener only when asked.
			if r := do(t, mustRequest(t, "GET", s.URL+"/metrics")); r.Status != 404 || strings.Contains(string(r.Body), "go_memstats") {
				t.Errorf("server's /metrics: %d", r.Status)
			}
			want := 404
			if tt.pprof {
				want = 200
			}
			if r := do(t, mustRequest(t, "GET", "http://"+s.app.metricsLn.Addr().String()+"/debug/pprof/goroutine?debug=1")); r.Status != want {
				t.Errorf("pprof: %d, want %d", r.Status, want)
			}

			// The metrics listener stops with the server.
			s.shutdown(t)
			if resp, err := http.Get("http://" + s.app.metricsLn.Addr().String() + "/metrics"); err == nil {
				resp.Body.Close()
				t.Errorf("metrics still served after shutdown: %d", resp.StatusCode)
			}
		})
	}
}

func hasName(s scrape, name string) bool {
	for k := range s {
		if k == name || strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestMetricsListenBusy: a metrics address taken by another process stops
// the start, naming the setting, as the server's own address does.
func TestMetricsListenBusy(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := defaultConfig()
	cfg.DataDir, cfg.Listen, cfg.MetricsListen = t.TempDir(), "127.0.0.1:0", taken.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := newApp(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "DEPLOYTOKENS_METRICS_LISTEN") {
		t.Fatalf("newApp: %v, want an error naming DEPLOYTOKENS_METRICS_LISTEN", err)
	}
}

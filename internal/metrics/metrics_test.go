package metrics_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/metrics"
	"github.com/deploytokens/deploytokens/internal/testenv"
)

// series answers every sample of the metric name as its labels joined
// ("method=GET,route=/x,code=200") and its value (a histogram's count).
func series(t *testing.T, m *metrics.Metrics, name string) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(labels, ",")] = value(s)
		}
	}
	return out
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	return 0
}

// TestMiddlewareLabels: requests are labelled with the route template
// echo matched (or SetRoute's name, or "unmatched"), a method from a fixed
// list and the status the error handler wrote; nothing of the path.
func TestMiddlewareLabels(t *testing.T) {
	tests := []struct {
		name, method, path string
		want               string // labels of the one series counted
	}{
		{"template, not the path", "GET", "/api/v4/projects/alice%2Fsecret-app", "code=200,method=GET,route=/api/v4/projects/:id"},
		{"handler error rendered", "DELETE", "/api/v4/projects/alice", "code=403,method=DELETE,route=/api/v4/projects/:id"},
		{"no route", "GET", "/no/such/thing/alice", "code=404,method=GET,route=unmatched"},
		{"method not allowed", "PUT", "/api/v4/projects/alice", "code=405,method=PUT,route=/api/v4/projects/:id"},
		{"method from no list", "BREW", "/api/v4/projects/alice", "code=405,method=other,route=/api/v4/projects/:id"},
		{"named by SetRoute", "GET", "/git/alice/app.git/info/refs", "code=200,method=GET,route=/:project.git/info/refs"},
		{"panic", "GET", "/panic/alice", "code=500,method=GET,route=/panic/:user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New()
			e := echo.New()
			e.Use(m.Middleware(), middleware.RecoverWithConfig(middleware.RecoverConfig{
				LogErrorFunc: func(_ echo.Context, err error, _ []byte) error { return err },
			}))
			e.GET("/api/v4/projects/:id", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
			e.DELETE("/api/v4/projects/:id", func(c echo.Context) error { return echo.NewHTTPError(http.StatusForbidden) })
			e.GET("/git/*", func(c echo.Context) error {
				metrics.SetRoute(c, "/:project.git/info/refs")
				return c.NoContent(http.StatusOK)
			})
			e.GET("/panic/:user", func(c echo.Context) error { panic("boom") })
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))

			got := series(t, m, "deploytokens_http_requests_total")
			if len(got) != 1 || got[tt.want] != 1 {
				t.Errorf("requests: %v, want {%s: 1}", got, tt.want)
			}
			if d := series(t, m, "deploytokens_http_request_duration_seconds"); len(d) != 1 || d[tt.want] != 1 {
				t.Errorf("durations: %v, want {%s: 1}", d, tt.want)
			}
			for labels := range got {
				if strings.Contains(labels, "alice") || strings.Contains(labels, "BREW") {
					t.Errorf("a label takes a value from the request: %s", labels)
				}
			}
			if want := tt.want[len("code="):][:3]; rec.Code != atoi(want) {
				t.Errorf("status %d, the label says %s", rec.Code, want)
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// fakeSigner answers tokens with a header of alg, or err.
type fakeSigner struct {
	alg string
	err error
}

func (f *fakeSigner) Sign(jwt.Claims) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"`+f.alg+`","typ":"JWT"}`)) + ".e30.c2ln", nil
}

// TestCountTokens: tokens are counted by the alg of their header, also
// when the signing key changes to another algorithm; failures are not.
func TestCountTokens(t *testing.T) {
	m := metrics.New()
	f := &fakeSigner{alg: "ES256"}
	s := m.CountTokens(f)
	for _, step := range []struct {
		alg string
		err error
	}{{"ES256", nil}, {"ES256", nil}, {"EdDSA", nil}, {"ES256", errors.New("no key")}, {"HS256", nil}} {
		f.alg, f.err = step.alg, step.err
		if _, err := s.Sign(jwt.MapClaims{}); !errors.Is(err, step.err) {
			t.Fatalf("Sign: %v, want %v", err, step.err)
		}
	}
	got := series(t, m, "deploytokens_registry_tokens_issued_total")
	want := map[string]float64{"alg=ES256": 2, "alg=EdDSA": 1, "alg=RS256": 0, "alg=other": 1}
	if len(got) != len(want) {
		t.Errorf("tokens issued: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tokens issued %s: %v, want %v", k, got[k], v)
		}
	}
}

// TestRedisHook: every command and every pipeline is one round trip; a
// missing key is no error, a command Redis refuses is.
func TestRedisHook(t *testing.T) {
	m := metrics.New()
	o, err := redis.ParseURL(testenv.StartRedis(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	c.AddHook(m.RedisHook())
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	c.Set(ctx, "s", "x", 0)
	if err := c.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("get missing: %v", err)
	}
	if err := c.Incr(ctx, "s").Err(); err == nil {
		t.Fatal("incr of a string did not fail")
	}
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "s")
		p.Get(ctx, "missing")
		return nil
	}); !errors.Is(err, redis.Nil) {
		t.Fatalf("pipeline: %v", err)
	}
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "t", "1", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A script Redis does not know yet is loaded: no failure.
	if err := redis.NewScript(`return 1`).Run(ctx, c, nil).Err(); err != nil {
		t.Fatal(err)
	}
	trips := series(t, m, "deploytokens_store_round_trips_total")
	errs := series(t, m, "deploytokens_store_errors_total")
	// A new connection's setup (hello, client) comes first; its refusals by
	// an older Redis are not failures.
	if errs["command=client"] != 0 || errs["command=hello"] != 0 {
		t.Errorf("connection setup counted as failed: %v", errs)
	}
	for cmd, want := range map[string][2]float64{
		"set": {1, 0}, "get": {1, 0}, "incr": {1, 1}, "pipeline": {1, 0}, "multi": {1, 0}, "evalsha": {1, 0}, "eval": {1, 0},
	} {
		if trips["command="+cmd] != want[0] || errs["command="+cmd] != want[1] {
			t.Errorf("%s: %v round trips, %v errors; want %v", cmd, trips["command="+cmd], errs["command="+cmd], want)
		}
	}
}

// TestCountersFromPackages: the counters the packages keep are read when
// scraped.
func TestCountersFromPackages(t *testing.T) {
	m := metrics.New()
	hits, misses, busy, waiting := uint64(3), uint64(5), int64(2), int64(1)
	m.CacheStats(func() (uint64, uint64) { return hits, misses })
	m.GitBackends(func() int64 { return busy }, func() int64 { return waiting }, 64)
	hits, busy = 4, 0
	for name, want := range map[string]float64{
		"deploytokens_cache_hits_total": 4, "deploytokens_cache_misses_total": 5,
		"deploytokens_git_backends_busy": 0, "deploytokens_git_backends_waiting": 1, "deploytokens_git_backends_max": 64,
	} {
		if got := series(t, m, name); got[""] != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	m.AuthFailures.Inc()
	if n := testutil.ToFloat64(m.AuthFailures); n != 1 {
		t.Errorf("auth failures %v", n)
	}
}

// TestHandler: /metrics in the text format, with the Go runtime's metrics
// and the build's; pprof only when asked.
func TestHandler(t *testing.T) {
	for _, pprof := range []bool{false, true} {
		m := metrics.New()
		srv := httptest.NewServer(m.Handler(pprof))
		get := func(path string) (int, string) {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		code, body := get("/metrics")
		for _, name := range []string{"go_memstats_mallocs_total", "go_goroutines", "go_build_info", "deploytokens_build_info{", "deploytokens_registry_tokens_issued_total"} {
			if code != http.StatusOK || !strings.Contains(body, name) {
				t.Errorf("/metrics: %d, lacks %s", code, name)
			}
		}
		want := http.StatusNotFound
		if pprof {
			want = http.StatusOK
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
			if code, _ := get(path); code != want {
				t.Errorf("pprof %v: %s: %d, want %d", pprof, path, code, want)
			}
		}
		if code, _ := get("/"); code != http.StatusNotFound {
			t.Errorf("/: %d", code)
		}
		srv.Close()
	}
}

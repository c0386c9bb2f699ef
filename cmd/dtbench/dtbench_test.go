package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	jwt "github.com/golang-jwt/jwt/v5"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

func TestSplice(t *testing.T) {
	tests := []struct {
		name, old, want string
		fails           bool
	}{
		// The markers are where the numbers go; without them dtbench
		// would not know where that is.
		{name: "empty file", old: "", fails: true},
		{name: "no markers", old: "# Perf\n\nintro\n", fails: true},
		{
			name: "markers kept, text around kept",
			old:  "head\n" + beginMarker + "\nold numbers\n" + endMarker + "\ntail\n",
			want: "head\n" + beginMarker + "\n\nBODY\n\n" + endMarker + "\ntail\n",
		},
		{name: "end before begin", old: endMarker + "\n" + beginMarker + "\n", fails: true},
		{name: "end missing", old: beginMarker + "\n", fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splice([]byte(tt.old), []byte("BODY\n"))
			if tt.fails {
				if err == nil {
					t.Errorf("no error; got %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestCeilingBody(t *testing.T) {
	for _, n := range []int{14, 700, 1170} {
		if b := ceilingBody(n); len(b) != n || !bytes.HasPrefix(b, []byte(`{"token":"`)) {
			t.Errorf("ceilingBody(%d) = %d bytes: %.40q", n, len(b), b)
		}
	}
}

// TestBoundHandler checks the bound pays for what a token answer needs: a
// fresh ES256 token, verifiable with the key, for the account, service and
// scope asked.
func TestBoundHandler(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := boundHandler(key)
	var seen []string
	for range 2 {
		rec := httptest.NewRecorder()
		q := url.Values{"service": {registryService}, "account": {"gitlab+deploy-token-1"}, "scope": {"repository:group/app:pull"}}
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwt/auth?"+q.Encode(), nil))
		var ans boundAnswer
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("answer %d %v: %s", rec.Code, err, rec.Body)
		}
		var claims boundClaims
		_, err := jwt.ParseWithClaims(ans.Token, &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(registryService))
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		want := []boundAccess{{Type: "repository", Name: "group/app", Actions: []string{"pull"}}}
		if claims.Subject != "gitlab+deploy-token-1" || !reflect.DeepEqual(claims.Access, want) || ans.AccessToken != ans.Token {
			t.Errorf("claims %+v, answer %+v", claims, ans)
		}
		seen = append(seen, ans.Token)
	}
	if seen[0] == seen[1] {
		t.Error("two answers carry the same token: the bound must sign every answer")
	}
}

func TestQuantile(t *testing.T) {
	r := loadResult{}
	for i := 1; i <= 1000; i++ {
		r.latencies = append(r.latencies, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{.5: 500 * time.Millisecond, .99: 990 * time.Millisecond, .999: 999 * time.Millisecond} {
		if got := r.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := (&loadResult{}).quantile(.5); got != 0 {
		t.Errorf("quantile of nothing = %v", got)
	}
}

// TestDrive runs the load generator against the ceiling's handler on
// loopback: every request answered and counted, wrong answers counted as
// errors, the request bound kept.
func TestDrive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ceilingHandler(ceilingBody(200)), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	c := cred{user: "gitlab+deploy-token-1", secret: "dtd_" + strings.Repeat("a", 32), project: "group/app"}
	good := tokenGET(addr, registryService, c)
	good.want = []byte(`{"token":"`)
	post := tokenPOST(addr, registryService, c)
	post.want = good.want
	bad := tokenGET(addr, registryService, c) // wants a granted scope the ceiling never answers

	tests := []struct {
		name       string
		reqs       []request
		max        int64
		wantErrors bool
	}{
		{"answers as expected", []request{good, post}, 300, false},
		{"wrong answers are errors", []request{bad}, 50, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := drive(t.Context(), addr, tt.reqs, loadOptions{concurrency: 4, duration: time.Minute, maxDuration: time.Minute,
				maxRequests: tt.max, record: true})
			if res.requests != tt.max {
				t.Errorf("%d requests, want %d", res.requests, tt.max)
			}
			if tt.wantErrors != (res.errors == res.requests) || (!tt.wantErrors && res.errors != 0) {
				t.Errorf("%d errors of %d requests (first: %s)", res.errors, res.requests, res.firstErr)
			}
			if !tt.wantErrors && (int64(len(res.latencies)) != tt.max || res.bodyLen != 200) {
				t.Errorf("%d latencies, body %d bytes", len(res.latencies), res.bodyLen)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		fails bool
	}{
		{"defaults", nil, false},
		{"quick", []string{"-n", "1000,100_000", "-stores", "redis"}, false},
		{"bad n", []string{"-n", "many"}, true},
		{"bad store", []string{"-stores", "mysql"}, true},
		{"removed flag", []string{"-server-cpus", "0"}, true},
		{"zero duration", []string{"-duration", "0s"}, true},
		{"stray argument", []string{"now"}, true},
		{"no projects", []string{"-projects", "0"}, false},
		{"negative projects", []string{"-projects", "-1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args, io.Discard)
			if (err != nil) != tt.fails {
				t.Errorf("error %v, want failure %v", err, tt.fails)
			}
		})
	}
}

// exposition is what a server with the Go, process and request collectors
// serves on /metrics (abridged).
const exposition = `# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.1e-05
go_gc_duration_seconds{quantile="1"} 0.000312
go_gc_duration_seconds_sum 0.0123
go_gc_duration_seconds_count 41
# HELP go_memstats_mallocs_total Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge.
# TYPE go_memstats_mallocs_total counter
go_memstats_mallocs_total 1.234567e+06
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 3.52
# HELP deploytokens_store_round_trips_total Round trips to Redis, by command.
# TYPE deploytokens_store_round_trips_total counter
deploytokens_store_round_trips_total{command="evalsha"} 1000
deploytokens_store_round_trips_total{command="pipeline"} 200
# HELP deploytokens_http_request_duration_seconds Latency of HTTP requests.
# TYPE deploytokens_http_request_duration_seconds histogram
deploytokens_http_request_duration_seconds_bucket{route="/jwt/auth",status="200",le="0.005"} 90
deploytokens_http_request_duration_seconds_bucket{route="/jwt/auth",status="200",le="+Inf"} 100
deploytokens_http_request_duration_seconds_sum{route="/jwt/auth",status="200"} 0.4
deploytokens_http_request_duration_seconds_count{route="/jwt/auth",status="200"} 100
`

func TestParseCounters(t *testing.T) {
	tests := []struct {
		name, text string
		metrics    []string
		want       map[string]float64
		fails      bool
	}{
		{name: "mallocs", text: exposition, metrics: []string{mallocsMetric}, want: map[string]float64{mallocsMetric: 1234567}},
		{name: "summed over labels", text: exposition, metrics: []string{mallocsMetric, tripsMetric},
			want: map[string]float64{mallocsMetric: 1234567, tripsMetric: 1200}},
		{name: "missing", text: exposition, metrics: []string{"go_memstats_frees_total"}, want: map[string]float64{}},
		{name: "not a counter", text: exposition, metrics: []string{"go_gc_duration_seconds"}, fails: true},
		{name: "a histogram", text: exposition, metrics: []string{"deploytokens_http_request_duration_seconds"}, fails: true},
		{name: "not the text format", text: "<html>404 page not found</html>\n", metrics: []string{mallocsMetric}, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCounters(strings.NewReader(tt.text), tt.metrics...)
			if (err != nil) != tt.fails || (!tt.fails && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("parseCounters = %v, %v; want %v, failure %v", got, err, tt.want, tt.fails)
			}
		})
	}
}

func TestPerRequest(t *testing.T) {
	before := map[string]float64{mallocsMetric: 1000}
	tests := []struct {
		name          string
		before, after map[string]float64
		requests      int64
		want          float64
	}{
		{"grown", before, map[string]float64{mallocsMetric: 3000}, 10, 200},
		{"no scrape before", nil, map[string]float64{mallocsMetric: 3000}, 10, -1},
		{"no scrape after", before, nil, 10, -1},
		{"no requests", before, map[string]float64{mallocsMetric: 3000}, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := perRequest(tt.before, tt.after, mallocsMetric, tt.requests); got != tt.want {
				t.Errorf("perRequest = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestScrape: a server without a metrics listener fails the scrape (its
// figures read n/a); one with it is read.
func TestScrape(t *testing.T) {
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, exposition)
	}))
	t.Cleanup(metrics.Close)
	noMetrics := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(noMetrics.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	tests := []struct {
		name, addr string
		fails      bool
	}{
		{"served", strings.TrimPrefix(metrics.URL, "http://"), false},
		{"404", strings.TrimPrefix(noMetrics.URL, "http://"), true},
		{"nothing listening", closed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scrape(tt.addr, mallocsMetric)
			if (err != nil) != tt.fails || (!tt.fails && got[mallocsMetric] != 1234567) {
				t.Errorf("scrape = %v, %v; want failure %v", got, err, tt.fails)
			}
		})
	}
}

// TestLoad loads tokens through the embedded store's ordinary methods and
// checks that every credential the scenarios use is a stored token of its
// project.
func TestLoad(t *testing.T) {
	keys, err := tokens.NewKeys([]byte(strings.Repeat("dtbench test secret ", 2)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		n, rotate        int
		stored, rotating int
	}{
		{"rotate over some", 95, 40, 95, 40},
		{"rotate over all", 10, 40, 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := boltstore.Open(filepath.Join(t.TempDir(), "deploytokens.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			creds, err := load(t.Context(), s, keys, tt.n, tt.rotate)
			if err != nil {
				t.Fatal(err)
			}
			if len(creds) != tt.rotating {
				t.Fatalf("%d rotating tokens, want %d", len(creds), tt.rotating)
			}
			all, err := s.ListAllDeployTokens(t.Context())
			if err != nil || len(all) != tt.stored {
				t.Fatalf("%d tokens stored, want %d, %v", len(all), tt.stored, err)
			}
			seen := map[string]bool{}
			for _, c := range creds {
				tok, p, err := s.DeployTokenByDigest(t.Context(), keys.Digest(c.secret))
				if err != nil || tok.Username != c.user || p.PathWithNamespace != c.project || seen[c.user] {
					t.Errorf("credential %+v: token %q of %q, %v (seen before: %v)", c, tok.Username, p.PathWithNamespace, err, seen[c.user])
				}
				seen[c.user] = true
			}
		})
	}
}

// TestInstall: the installed store file is whole.
func TestInstall(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "loaded.db"), filepath.Join(dir, "deploytokens.db")
	data := bytes.Repeat([]byte("deploytokens "), 400_000)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := install(src, dst); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Errorf("installed file differs from the loaded one (%d bytes, %v)", len(got), err)
	}
}

// TestTable: the table has the columns the issue settled, and our server's
// figures from /metrics read "—" where they do not apply and "n/a" where
// they apply but the scrape gave none.
func TestTable(t *testing.T) {
	res := loadResult{requests: 100, elapsed: time.Second, latencies: durations{time.Millisecond}}
	ceiling := row{scenario: scenCeiling, res: res, roundTrips: -1, allocs: -1, serverCPU: 20 * time.Microsecond, ceiling: 100}
	b := &bench{own: []row{ceiling}, rows: []row{
		{store: storeRedis, tokens: 1000, scenario: scenGET, alg: "ES256", res: res, roundTrips: 0.004, allocs: 167.4, serverCPU: 118 * time.Microsecond, ceiling: 400},
		{store: storeRedis, tokens: 1000, scenario: scenPOST, alg: "ES256", res: res, roundTrips: -1, allocs: -1, ceiling: 400},
		{store: storeEmbed, tokens: 1000, scenario: scenGitAuth, alg: "ES256", res: res, roundTrips: -1, allocs: 120, ceiling: 400},
	}}
	header, cells := b.table()
	wantHeader := []string{"store", "tokens", "scenario", "alg", "req/s", "of ceiling", "p50", "p99", "p99.9", "errors",
		"round trips/req", "allocs/req", "server CPU µs/req"}
	if !reflect.DeepEqual(header, wantHeader) {
		t.Fatalf("header %q, want %q", header, wantHeader)
	}
	tests := []struct {
		name                            string
		row                             int
		share, trips, allocs, serverCPU string
	}{
		{"ceiling", 0, "100.0%", "—", "—", "20"},
		{"redis, measured", 1, "25.0%", "0.00", "167", "118"},
		{"redis, no metrics", 2, "25.0%", "n/a", "n/a", "0"},
		{"embedded", 3, "25.0%", "—", "120", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cells[tt.row]
			if got := []string{c[5], c[10], c[11], c[12]}; !reflect.DeepEqual(got, []string{tt.share, tt.trips, tt.allocs, tt.serverCPU}) {
				t.Errorf("of ceiling, round trips, allocs, CPU = %q", got)
			}
		})
	}
}

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
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	jwt "github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

func TestParseCommandStats(t *testing.T) {
	before := parseCommandStats(parseInfo("# Commandstats\r\ncmdstat_get:calls=10,usec=5,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_evalsha:calls=4,usec=9,usec_per_call=2.25,rejected_calls=0,failed_calls=0\r\ncmdstat_info:calls=3,usec=1\r\n"))
	after := parseCommandStats(parseInfo("# Commandstats\r\ncmdstat_get:calls=30,usec=5\r\ncmdstat_evalsha:calls=14,usec=9\r\n" +
		"cmdstat_hgetall:calls=20,usec=1\r\ncmdstat_info:calls=9,usec=1\r\ncmdstat_client|list:calls=1,usec=1\r\n"))
	if before["get"] != 10 || before["evalsha"] != 4 || after["client|list"] != 1 {
		t.Fatalf("parsed %v and %v", before, after)
	}
	tests := []struct {
		name     string
		requests int64
		want     string
	}{
		// dtbench's own INFO is left out.
		{"per request, most first", 10, "get 2.00, hgetall 2.00, evalsha 1.00, client|list 0.10"},
		{"no requests", 0, "—"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmtCommands(before, after, tt.requests); got != tt.want {
				t.Errorf("fmtCommands = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadRedisStats reads a real redis-server's counters around a script
// that writes: its commands count, those inside the script included, and
// so does its write.
func TestReadRedisStats(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testenv.StartRedisProcess(t).Addr()})
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()
	before, err := readRedisStats(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	script := `redis.call("exists", KEYS[1]); redis.call("hset", KEYS[1], "used", ARGV[1]); return 1`
	for range 2 {
		if err := c.Eval(ctx, script, []string{"d:1"}, "now").Err(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := readRedisStats(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmtCommands(before.calls, after.calls, 2), "eval 1.00, exists 1.00, hset 1.00"; got != want {
		t.Errorf("commands %q, want %q", got, want)
	}
	if got := after.writes - before.writes; got != 2 {
		t.Errorf("%d writes, want 2", got)
	}
	if used, err := usedMemory(ctx, c); err != nil || used <= 0 {
		t.Errorf("used_memory %d, %v", used, err)
	}
}

func TestSplice(t *testing.T) {
	tests := []struct {
		name, old, want string
		fails           bool
	}{
		{name: "new file", old: "", want: "# Performance\n\n" + beginMarker + "\n\nBODY\n\n" + endMarker + "\n"},
		{name: "no markers", old: "# Perf\n\nintro\n", want: "# Perf\n\nintro\n\n" + beginMarker + "\n\nBODY\n\n" + endMarker + "\n"},
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
			if len(res.atSocket) != len(res.latencies) {
				t.Fatalf("%d latencies at the socket, %d latencies", len(res.atSocket), len(res.latencies))
			}
			// Each answer reached the socket after its request was sent
			// and before it was read, so, sorted, each latency at the
			// socket is positive and at most its observed counterpart.
			for i := range res.atSocket {
				if res.atSocket[i] <= 0 || res.atSocket[i] > res.latencies[i] {
					t.Fatalf("latency at the socket %v, observed %v (rank %d)", res.atSocket[i], res.latencies[i], i)
				}
			}
		})
	}
}

// TestStampConn: the receive time is when the data reached the socket, not
// when it was read.
func TestStampConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The kernel turns timestamps on a moment after they are first asked
	// for, so the first exchanges of a process may come without one.
	for try := 0; ; try++ {
		at, readAt, received := stampExchange(t, ln)
		if received.IsZero() {
			if try == 20 {
				t.Fatal("no receive time after 20 exchanges")
			}
			continue
		}
		if received.Before(at.Add(-time.Millisecond)) || received.After(readAt.Add(-stampLate/2)) {
			t.Errorf("received %v: sent %v, read %v", received, at, readAt)
		}
		return
	}
}

const stampLate = 200 * time.Millisecond

// stampExchange sends a byte to a server that answers on ln, reads the
// answer stampLate after it was sent, and answers when the server sent it,
// when it was read and the receive time the connection noted.
func stampExchange(t *testing.T, ln net.Listener) (sent, readAt, received time.Time) {
	sentc := make(chan time.Time, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Answer a request, as servers do: data that arrived before the
		// client asked for timestamps carries none.
		if _, err := c.Read(make([]byte, 1)); err != nil {
			return
		}
		sentc <- time.Now()
		c.Write([]byte("answer"))
		c.Read(make([]byte, 1)) // until the client closes
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := newStampConn(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("?")); err != nil {
		t.Fatal(err)
	}
	sent = <-sentc
	time.Sleep(stampLate)
	buf := make([]byte, 16)
	readAt = time.Now()
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	return sent, readAt, c.received
}

func TestDriveLatencyAtSocket(t *testing.T) {
	const delay = 30 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Write([]byte("ok"))
	})
	srv := &http.Server{Handler: slow, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	res := drive(t.Context(), addr, []request{plainGET(addr, "/", "ok")}, loadOptions{concurrency: 2, duration: time.Minute,
		maxDuration: time.Minute, maxRequests: 10, record: true})
	if res.errors != 0 || len(res.atSocket) != 10 {
		t.Fatalf("%d errors (%s), %d latencies at the socket", res.errors, res.firstErr, len(res.atSocket))
	}
	if got := res.atSocket.quantile(0); got < delay {
		t.Errorf("shortest latency at the socket %v, the server takes %v", got, delay)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		fails bool
	}{
		{"defaults", nil, false},
		{"quick", []string{"-n", "1000,100_000", "-stores", "redis", "-algs", ""}, false},
		{"bad n", []string{"-n", "many"}, true},
		{"bad store", []string{"-stores", "mysql"}, true},
		{"bad alg", []string{"-algs", "HS256"}, true},
		{"zero duration", []string{"-duration", "0s"}, true},
		{"stray argument", []string{"now"}, true},
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

func TestCheckServerCPUs(t *testing.T) {
	var own unix.CPUSet // dtbench on CPUs 1 to 3
	for cpu := 1; cpu <= 3; cpu++ {
		own.Set(cpu)
	}
	tests := []struct {
		list, wantErr string
	}{
		{"0", ""},
		{"0,4-5", ""},
		{"0-1", "CPU 1"},
		{"3", "CPU 3"},
		{" 4 - 4 ", "not a CPU"}, // spaces inside a range are not a list taskset takes
	}
	for _, bad := range []string{"", "a", "-1", "1024", "5-4", "0,,4", "0-", "4-5-6"} {
		tests = append(tests, struct{ list, wantErr string }{bad, "not a CPU"})
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			err := checkServerCPUs(tt.list, own)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkServerCPUs(%q) = %v, want an error with %q", tt.list, err, tt.wantErr)
			}
		})
	}
	if _, err := parseConfig([]string{"-server-cpus", "x"}, io.Discard); err == nil {
		t.Error("parseConfig accepted -server-cpus x")
	}
}

func TestPinned(t *testing.T) {
	bin, args := pinned("", "/bin/srv", []string{"serve"})
	if bin != "/bin/srv" || !reflect.DeepEqual(args, []string{"serve"}) {
		t.Errorf("unpinned: %s %v", bin, args)
	}
	bin, args = pinned("0,2", "/bin/srv", []string{"serve", "-x"})
	if bin != "taskset" || !reflect.DeepEqual(args, []string{"--cpu-list", "0,2", "/bin/srv", "serve", "-x"}) {
		t.Errorf("pinned: %s %v", bin, args)
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
	closed, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, addr string
		fails      bool
	}{
		{"served", strings.TrimPrefix(metrics.URL, "http://"), false},
		{"404", strings.TrimPrefix(noMetrics.URL, "http://"), true},
		{"nothing listening", loopback(closed), true},
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
// project, and how the git scenarios split them.
func TestLoad(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "deploytokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	keys, err := tokens.NewKeys([]byte(strings.Repeat("dtbench test secret ", 2)))
	if err != nil {
		t.Fatal(err)
	}
	hooked := false
	ds, err := load(t.Context(), s, keys, 95, 40, func() error { hooked = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !hooked || ds.projects != 10 || len(ds.rotating) != 40 {
		t.Fatalf("hook called %v, %d projects, %d rotating tokens", hooked, ds.projects, len(ds.rotating))
	}
	all, err := s.ListAllDeployTokens(t.Context())
	if err != nil || len(all) != 95 {
		t.Fatalf("%d tokens stored, %v", len(all), err)
	}
	seen := map[string]bool{}
	for _, c := range ds.rotating {
		tok, p, err := s.DeployTokenByDigest(t.Context(), keys.Digest(c.secret))
		if err != nil || tok.Username != c.user || p.PathWithNamespace != c.project || seen[c.user] {
			t.Errorf("credential %+v: token %q of %q, %v (seen before: %v)", c, tok.Username, p.PathWithNamespace, err, seen[c.user])
		}
		seen[c.user] = true
	}
	if len(ds.gitRepo)+len(ds.gitNoRepo) != len(ds.rotating) || len(ds.gitRepo) == 0 || len(ds.gitNoRepo) == 0 {
		t.Errorf("git scenarios: %d with a repository, %d without, of %d", len(ds.gitRepo), len(ds.gitNoRepo), len(ds.rotating))
	}
	for _, c := range ds.gitRepo {
		if !slices.Contains(ds.repoProjects, c.project) {
			t.Errorf("token of %s rotates for the repository scenario, but its project gets no repository", c.project)
		}
	}
}

// cachedShare answers the share of the file's pages in the page cache.
func cachedShare(t *testing.T, path string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pages := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	// x/sys/unix has no mincore(2) for Linux.
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&pages[0])))
	if errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, p := range pages {
		n += int(p & 1)
	}
	return float64(n) / float64(len(pages))
}

// TestInstallDropsCache: the installed store file is whole and out of the
// page cache, so the server reads it as after a reboot.
func TestInstallDropsCache(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("tmpfs keeps its pages in the page cache")
	}
	src, dst := filepath.Join(dir, "loaded.db"), filepath.Join(dir, "deploytokens.db")
	data := bytes.Repeat([]byte("deploytokens "), 400_000)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := install(src, dst); err != nil {
		t.Fatal(err)
	}
	if share := cachedShare(t, dst); share > 0.1 {
		t.Errorf("%.0f%% of the installed file is still cached", 100*share)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Errorf("installed file differs from the loaded one (%d bytes, %v)", len(got), err)
	}
}

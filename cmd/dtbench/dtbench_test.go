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
	"reflect"
	"strings"
	"testing"
	"time"

	jwt "github.com/golang-jwt/jwt/v5"
	"golang.org/x/sys/unix"
)

func TestParseCommandStats(t *testing.T) {
	before := parseCommandStats("# Commandstats\r\ncmdstat_get:calls=10,usec=5,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_evalsha:calls=4,usec=9,usec_per_call=2.25,rejected_calls=0,failed_calls=0\r\ncmdstat_info:calls=3,usec=1\r\n")
	after := parseCommandStats("# Commandstats\r\ncmdstat_get:calls=30,usec=5\r\ncmdstat_evalsha:calls=14,usec=9\r\n" +
		"cmdstat_hgetall:calls=20,usec=1\r\ncmdstat_info:calls=9,usec=1\r\ncmdstat_client|list:calls=1,usec=1\r\n")
	if before["get"] != 10 || before["evalsha"] != 4 || after["client|list"] != 1 {
		t.Fatalf("parsed %v and %v", before, after)
	}
	d := commandDelta(before, after)
	if _, ok := d["info"]; ok {
		t.Errorf("delta counts dtbench's own INFO: %v", d)
	}
	if got, want := fmtCommands(d, 10), "get 2.00, hgetall 2.00, evalsha 1.00, client|list 0.10"; got != want {
		t.Errorf("fmtCommands = %q, want %q", got, want)
	}
	if got := fmtCommands(d, 0); got != "—" {
		t.Errorf("fmtCommands with no requests = %q", got)
	}
}

func TestMonitorCount(t *testing.T) {
	m := &monitor{byCmd: map[string]int64{}}
	for _, line := range []string{
		`+1700000000.123456 [0 127.0.0.1:5555] "evalsha" "abc" "2" "k1" "k2"` + "\r\n",
		`+1700000000.123457 [0 lua] "GET" "k2"` + "\r\n",
		`+1700000000.123458 [0 lua] "hgetall" "d:1"` + "\r\n",
		`+1700000000.123459 [0 unix:/tmp/redis.sock] "GET" "ban:x"` + "\r\n",
		"garbage\r\n",
	} {
		m.count(line)
	}
	for _, line := range []string{
		`+1700000001.1 [0 127.0.0.1:5555] "evalsha" "def" "1" "d:1"` + "\r\n",
		`+1700000001.2 [0 lua] "exists" "d:1"` + "\r\n",
		`+1700000001.3 [0 lua] "hset" "d:1" "l" "..."` + "\r\n",
		`+1700000001.4 [0 127.0.0.1:5556] "set" "k" "v"` + "\r\n",
	} {
		m.count(line)
	}
	if m.clients != 4 || m.scripts != 4 || m.writes != 2 || m.byCmd["evalsha"] != 2 || m.byCmd["get"] != 1 {
		t.Errorf("counted clients %d, scripts %d, writes %d, by command %v", m.clients, m.scripts, m.writes, m.byCmd)
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

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"0", []int{0}},
		{"1,3", []int{1, 3}},
		{"0-2,5", []int{0, 1, 2, 5}},
		{" 4 - 4 ", nil}, // spaces inside a range are not a list taskset takes
	} {
		set, err := parseCPUList(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("parseCPUList(%q) accepted", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCPUList(%q): %v", tc.in, err)
			continue
		}
		if set.Count() != len(tc.want) {
			t.Errorf("parseCPUList(%q) has %d CPUs, want %v", tc.in, set.Count(), tc.want)
		}
		for _, cpu := range tc.want {
			if !set.IsSet(cpu) {
				t.Errorf("parseCPUList(%q) lacks CPU %d", tc.in, cpu)
			}
		}
	}
	for _, bad := range []string{"", "a", "-1", "1024", "3-1", "0,,1", "0-", "1-2-3"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) accepted", bad)
		}
	}
}

func TestCheckCPUs(t *testing.T) {
	set := func(list string) unix.CPUSet {
		s, err := parseCPUList(list)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	online := set("0-3")
	if err := checkCPUs("0", set("0"), online, set("1-3")); err != nil {
		t.Errorf("server on 0, dtbench on 1-3: %v", err)
	}
	if err := checkCPUs("0-1", set("0-1"), online, set("1-3")); err == nil || !strings.Contains(err.Error(), "CPU 1") {
		t.Errorf("server and dtbench both on CPU 1: %v", err)
	}
	if err := checkCPUs("4", set("4"), online, set("0")); err == nil || !strings.Contains(err.Error(), "not online") {
		t.Errorf("offline CPU 4: %v", err)
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

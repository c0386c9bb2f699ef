package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// TestHungRedisAnswered503WithinBudget stops a real redis-server with
// SIGSTOP, as a hung Redis or a partitioned network looks to a client (the
// port still accepts, nothing answers): readiness and every request that
// needs the store must answer 503 with Retry-After within the store budget,
// not after go-redis's read timeout and retries (5 to 10 s were measured).
func TestHungRedisAnswered503WithinBudget(t *testing.T) {
	rs := testenv.StartRedisProcess(t)
	const budget = 500 * time.Millisecond
	s := startServer(t, func(c *Config) { c.RedisURL, c.StoreTimeout = rs.URL(), budget })
	s.project(t, s.AdminToken, "hung/app", "private")
	d := s.deployToken(t, s.AdminToken, "hung/app", map[string]any{"name": "ci", "scopes": []string{"read_registry"}})
	// Once through while Redis answers, so the replica cache holds it.
	if st := jwtStatus(t, s, d.Username, d.Token, "hung/app"); st != 200 {
		t.Fatalf("token request before the pause: %d", st)
	}

	rs.Pause()
	// A generous bound, not a speed claim: the budget (or readiness's own
	// 2 s, whichever is less) plus time for a loaded machine.
	limit := budget + 2*time.Second
	for _, tc := range []struct {
		name, method, path, token string
		user, pass                string
	}{
		{name: "readiness", method: "GET", path: "/-/readiness"},
		{name: "readiness HEAD", method: "HEAD", path: "/-/readiness"},
		{name: "list projects", method: "GET", path: "/api/v4/projects", token: s.AdminToken},
		{name: "one project", method: "GET", path: "/api/v4/projects/hung%2Fapp", token: s.AdminToken},
		{name: "create project", method: "POST", path: "/api/v4/projects?path=other&namespace_path=hung", token: s.AdminToken},
		{name: "registry token", method: "GET", path: "/jwt/auth?service=" + s.cfg.RegistryService + "&scope=repository:hung/app:pull", user: d.Username, pass: d.Token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("PRIVATE-TOKEN", tc.token)
			}
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			c := &http.Client{Timeout: 30 * time.Second}
			start := time.Now()
			resp, err := c.Do(req)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("%s %s: %v after %v", tc.method, tc.path, err, took)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s %s: %d, want 503", tc.method, tc.path, resp.StatusCode)
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s %s: no Retry-After", tc.method, tc.path)
			}
			if took > limit {
				t.Errorf("%s %s: answered after %v, more than %v", tc.method, tc.path, took, limit)
			}
			t.Logf("%s %s: %d after %v", tc.method, tc.path, resp.StatusCode, took)
		})
	}

	rs.Resume()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.api(t, "GET", "/projects", s.AdminToken, nil)
		if r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGCONT: GET /projects still %d", r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// hookRequest is one request a receiver got.
type hookRequest struct {
	Path, Token, Event, Key string
	Raw                     []byte
	Body                    struct {
		ObjectKind       string `json:"object_kind"`
		EventName        string `json:"event_name"`
		Interval         string `json:"interval"`
		ObjectAttributes struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
			Revoked  bool   `json:"revoked"`
		} `json:"object_attributes"`
		Project *struct {
			ID                int64  `json:"id"`
			PathWithNamespace string `json:"path_with_namespace"`
		} `json:"project"`
		Group *struct {
			GroupID  int64  `json:"group_id"`
			FullPath string `json:"full_path"`
		} `json:"group"`
	}
}

// receiver is a webhook endpoint on loopback that records every request
// and answers what respond says for the nth (from 1).
type receiver struct {
	t       *testing.T
	URL     string
	mu      sync.Mutex
	reqs    []hookRequest
	respond func(n int, r *http.Request) int
}

func startReceiver(t *testing.T, respond func(n int, r *http.Request) int) *receiver {
	rc := &receiver{t: t, respond: respond}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		h := hookRequest{Path: r.URL.Path, Token: r.Header.Get("X-Gitlab-Token"), Event: r.Header.Get("X-Gitlab-Event"), Key: r.Header.Get("Idempotency-Key"), Raw: raw}
		if err := json.Unmarshal(raw, &h.Body); err != nil {
			t.Errorf("webhook body %s: %v", raw, err)
		}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, h)
		n := len(rc.reqs)
		rc.mu.Unlock()
		status := http.StatusOK
		if rc.respond != nil {
			status = rc.respond(n, r)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

func (rc *receiver) requests() []hookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hookRequest(nil), rc.reqs...)
}

// await waits (a generous minute at most) until ok holds for the requests.
func (rc *receiver) await(what string, ok func([]hookRequest) bool) []hookRequest {
	rc.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		rs := rc.requests()
		if ok(rs) {
			return rs
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("%s: not seen; the receiver got %d requests", what, len(rs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func atLeast(n int) func([]hookRequest) bool {
	return func(rs []hookRequest) bool { return len(rs) >= n }
}

// fastHooks makes deliveries quick for a test, and lets them reach the
// loopback receiver.
func fastHooks(c *Config) {
	c.WebhookAllowPrivate = true
	c.WebhookPollInterval = 20 * time.Millisecond
	c.WebhookBackoff = 50 * time.Millisecond
	c.WebhookClaimTimeout = 2 * time.Second
}

func both(mods ...func(*Config)) func(*Config) {
	return func(c *Config) {
		for _, m := range mods {
			m(c)
		}
	}
}

// sameSecret makes a replica of s: the same server secret and admin token.
func (s *testServer) sameSecret(c *Config) {
	c.SecretFile, c.AdminToken = s.cfg.SecretFile, s.AdminToken
}

type hookView struct {
	ID                        int64  `json:"id"`
	URL                       string `json:"url"`
	Token                     string `json:"token"`
	ProjectID                 int64  `json:"project_id"`
	GroupID                   int64  `json:"group_id"`
	ResourceDeployTokenEvents bool   `json:"resource_deploy_token_events"`
	PushEvents                bool   `json:"push_events"`
	EnableSSLVerification     bool   `json:"enable_ssl_verification"`
}

// TestWebhooks: project and group hooks get the created and revoked events
// of the deploy tokens of their project, or of their group's subtree,
// with their token header, in GitLab's shape; the hooks API answers
// GitLab's fields without the token.
func TestWebhooks(t *testing.T) {
	s := startServer(t, fastHooks)
	rc := startReceiver(t, nil)
	_, alice := s.user(t, "alice")
	s.mustAPI(t, 201, "POST", "/groups", alice, map[string]any{"path": "corp"}, nil)
	p := s.project(t, alice, "corp/app", "private")
	var ph, gh hookView
	s.mustAPI(t, 201, "POST", "/projects/corp%2Fapp/hooks", alice, map[string]any{"url": rc.URL + "/p", "token": "p-hook-token", "resource_deploy_token_events": true, "push_events": true}, &ph)
	s.mustAPI(t, 201, "POST", "/groups/corp/hooks", alice, map[string]any{"url": rc.URL + "/g", "token": "g-hook-token", "resource_deploy_token_events": true}, &gh)
	if ph.Token != "" || ph.ProjectID != p.ID || !ph.ResourceDeployTokenEvents || ph.PushEvents || !ph.EnableSSLVerification || gh.GroupID == 0 {
		t.Fatalf("hooks answered %+v, %+v", ph, gh)
	}
	// A hook not subscribed hears nothing.
	s.mustAPI(t, 201, "POST", "/projects/corp%2Fapp/hooks", alice, map[string]any{"url": rc.URL + "/quiet"}, nil)

	pt := s.deployToken(t, alice, "corp/app", map[string]any{"name": "p", "scopes": []string{"read_registry"}})
	var gt deployTokenInfo
	s.mustAPI(t, 201, "POST", "/groups/corp/deploy_tokens", alice, map[string]any{"name": "g", "scopes": []string{"read_registry"}}, &gt)
	s.remember(gt.Token)
	var rotated deployTokenInfo
	s.mustAPI(t, 200, "POST", fmt.Sprintf("/projects/corp%%2Fapp/deploy_tokens/%d/rotate", pt.ID), alice, nil, &rotated)
	s.remember(rotated.Token)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/corp%%2Fapp/deploy_tokens/%d", pt.ID), alice, nil, nil)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/groups/corp/deploy_tokens/%d", gt.ID), alice, nil, nil)

	// The project hook: its token's three events; the group hook: those
	// and the group token's two.
	rs := rc.await("eight deliveries", atLeast(8))
	type key struct {
		path, event string
		token       int64
	}
	got := map[key]int{}
	for _, r := range rs {
		if secretPrefix.Match(r.Raw) {
			t.Fatalf("a webhook body holds a secret: %s", r.Raw)
		}
		if r.Event != "Deploy Token Hook" || r.Body.ObjectKind != "deploy_token" || r.Key == "" {
			t.Errorf("request %+v", r)
		}
		wantToken := map[string]string{"/p": "p-hook-token", "/g": "g-hook-token"}[r.Path]
		if r.Token != wantToken {
			t.Errorf("%s got X-Gitlab-Token %q, want %q", r.Path, r.Token, wantToken)
		}
		id := r.Body.ObjectAttributes.ID
		switch id {
		case pt.ID:
			if r.Body.Project == nil || r.Body.Project.PathWithNamespace != "corp/app" || r.Body.Group != nil {
				t.Errorf("project token's event %s", r.Raw)
			}
		case gt.ID:
			if r.Body.Group == nil || r.Body.Group.FullPath != "corp" || r.Body.Project != nil {
				t.Errorf("group token's event %s", r.Raw)
			}
		}
		if (r.Body.EventName == "deploy_token_revoked") != r.Body.ObjectAttributes.Revoked {
			t.Errorf("revoked %v in %s", r.Body.ObjectAttributes.Revoked, r.Raw)
		}
		got[key{r.Path, r.Body.EventName, id}]++
	}
	want := map[key]int{
		{"/p", "deploy_token_created", pt.ID}: 1, {"/p", "deploy_token_rotated", pt.ID}: 1, {"/p", "deploy_token_revoked", pt.ID}: 1,
		{"/g", "deploy_token_created", pt.ID}: 1, {"/g", "deploy_token_rotated", pt.ID}: 1, {"/g", "deploy_token_revoked", pt.ID}: 1,
		{"/g", "deploy_token_created", gt.ID}: 1, {"/g", "deploy_token_revoked", gt.ID}: 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}

	t.Run("api", func(t *testing.T) {
		_, bob := s.user(t, "bob")
		var list []hookView
		r := s.mustAPI(t, 200, "GET", "/projects/corp%2Fapp/hooks", alice, nil, &list)
		if len(list) != 2 || strings.Contains(string(r.Body), "p-hook-token") {
			t.Fatalf("list %s", r.Body)
		}
		for _, tc := range []struct {
			name, method, path, token string
			body                      any
			status                    int
			message                   string
		}{
			{"no url", "POST", "/projects/corp%2Fapp/hooks", alice, map[string]any{"token": "x"}, 400, "url"},
			{"not http", "POST", "/projects/corp%2Fapp/hooks", alice, map[string]any{"url": "ftp://example.com/"}, 400, "url"},
			{"not a member", "POST", "/projects/corp%2Fapp/hooks", bob, map[string]any{"url": rc.URL}, 404, ""},
			{"group, not a member", "GET", "/groups/corp/hooks", bob, nil, 404, ""},
			{"other owner's id", "GET", fmt.Sprintf("/projects/corp%%2Fapp/hooks/%d", gh.ID), alice, nil, 404, ""},
			{"update", "PUT", fmt.Sprintf("/projects/corp%%2Fapp/hooks/%d", ph.ID), alice, map[string]any{"enable_ssl_verification": false}, 200, ""},
			{"get", "GET", fmt.Sprintf("/groups/corp/hooks/%d", gh.ID), alice, nil, 200, ""},
			{"delete", "DELETE", fmt.Sprintf("/groups/corp/hooks/%d", gh.ID), alice, nil, 204, ""},
			{"deleted", "GET", fmt.Sprintf("/groups/corp/hooks/%d", gh.ID), alice, nil, 404, ""},
			{"project deleted", "DELETE", "/projects/corp%2Fapp", alice, nil, 202, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.api(t, tc.method, tc.path, tc.token, tc.body)
				if r.Status != tc.status || !strings.Contains(r.message(), tc.message) {
					t.Fatalf("%d %s, want %d naming %q", r.Status, r.Body, tc.status, tc.message)
				}
			})
		}
		// The deleted project's hooks go with it.
		if hs, err := s.app.store.ListHooks(t.Context(), p.ID, 0); err != nil || len(hs) != 0 {
			t.Fatalf("a deleted project keeps %d hooks (%v)", len(hs), err)
		}
	})
}

// TestWebhookPrivateAddresses: without DEPLOYTOKENS_WEBHOOK_ALLOW_PRIVATE
// a hook at a loopback, private or link-local address is refused naming
// url, and a hook that reaches one anyway (a name resolving there since it
// was saved; here a record written past the check) is refused at dial
// time: the receiver hears nothing.
func TestWebhookPrivateAddresses(t *testing.T) {
	s := startServer(t, func(c *Config) {
		fastHooks(c)
		c.WebhookAllowPrivate = false
		c.WebhookMaxAttempts = 1
	})
	rc := startReceiver(t, nil)
	_, alice := s.user(t, "alice")
	p := s.project(t, alice, "alice/app", "private")
	for _, u := range []string{rc.URL, "http://localhost:8080/", "http://10.1.2.3/", "http://192.168.1.1/", "http://169.254.169.254/latest", "http://[::1]:80/", "http://0.0.0.0/", "http://100.64.0.1/"} {
		r := s.api(t, "POST", "/projects/alice%2Fapp/hooks", alice, map[string]any{"url": u, "resource_deploy_token_events": true})
		if r.Status != 400 || !strings.HasPrefix(r.message(), "url ") {
			t.Errorf("%s: %d %s, want 400 naming url", u, r.Status, r.Body)
		}
	}
	s.mustAPI(t, 201, "POST", "/projects/alice%2Fapp/hooks", alice, map[string]any{"url": "http://192.0.2.1/", "resource_deploy_token_events": false}, nil)
	h := tokens.Hook{ProjectID: p.ID, URL: rc.URL, DeployTokenEvents: true, CreatedAt: time.Now()}
	if err := s.app.store.CreateHook(t.Context(), &h); err != nil {
		t.Fatal(err)
	}
	s.deployToken(t, alice, "alice/app", map[string]any{"name": "x", "scopes": []string{"read_registry"}})
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(s.logs.String(), "requests to the local network are not allowed") {
		if time.Now().After(deadline) {
			t.Fatalf("no refused dial in the log:\n%s", s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("the receiver on loopback got %d requests", n)
	}
}

// TestWebhookRetries: a receiver that answers 500 twice gets the event a
// third time, and then no more; each attempt is logged with its status.
func TestWebhookRetries(t *testing.T) {
	s := startServer(t, fastHooks)
	rc := startReceiver(t, func(n int, _ *http.Request) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	_, alice := s.user(t, "alice")
	s.project(t, alice, "alice/app", "private")
	s.mustAPI(t, 201, "POST", "/projects/alice%2Fapp/hooks", alice, map[string]any{"url": rc.URL, "token": "tok", "resource_deploy_token_events": true}, nil)
	s.deployToken(t, alice, "alice/app", map[string]any{"name": "x", "scopes": []string{"read_registry"}})
	rs := rc.await("three attempts", atLeast(3))
	for _, r := range rs {
		if r.Key != rs[0].Key || r.Token != "tok" || r.Body.EventName != "deploy_token_created" {
			t.Fatalf("attempt %+v", r)
		}
	}
	// Long enough for a fourth attempt, were one due (backoff 50ms).
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(s.logs.String(), "webhook delivered") {
		if time.Now().After(deadline) {
			t.Fatal("no delivery logged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rc.requests()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	logs := s.logs.String()
	if c := strings.Count(logs, "webhook delivery failed: will retry"); c != 2 || !strings.Contains(logs, "500 Internal Server Error") {
		t.Fatalf("%d retries logged, want 2 with the status:\n%s", c, logs)
	}
}

// TestWebhookReplicas: two replicas on one Redis send each delivery once.
func TestWebhookReplicas(t *testing.T) {
	redis := redisConfig(t)
	a := startServer(t, both(redis, fastHooks))
	b := startServer(t, both(redis, fastHooks, a.sameSecret))
	rc := startReceiver(t, nil)
	_, alice := a.user(t, "alice")
	a.project(t, alice, "alice/app", "private")
	a.mustAPI(t, 201, "POST", "/projects/alice%2Fapp/hooks", alice, map[string]any{"url": rc.URL, "resource_deploy_token_events": true}, nil)
	const n = 20
	for i := range n {
		s := []*testServer{a, b}[i%2]
		d := s.deployToken(t, alice, "alice/app", map[string]any{"name": fmt.Sprint("t", i), "scopes": []string{"read_registry"}})
		a.remember(d.Token)
		b.remember(d.Token)
	}
	rc.await("every delivery", atLeast(n))
	// A few poll intervals more, for a duplicate to show.
	time.Sleep(300 * time.Millisecond)
	seen := map[string]int{}
	for _, r := range rc.requests() {
		seen[r.Key]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct deliveries, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("delivery %s sent %d times", k, c)
		}
	}
	for _, s := range []*testServer{a, b} {
		if !strings.Contains(s.logs.String(), "webhook delivered") {
			t.Logf("a replica delivered nothing (allowed: the other claimed first)")
		}
	}
}

// TestWebhookReplicaDies: a replica that claimed a delivery and dies
// before the receiver answered leaves it to another replica, which sends
// it once the claim times out.
func TestWebhookReplicaDies(t *testing.T) {
	redis := redisConfig(t)
	release := make(chan struct{})
	var first atomic.Bool
	rc := startReceiver(t, func(n int, r *http.Request) int {
		if n == 1 {
			first.Store(true)
			select { // hold the first replica's request until it is gone
			case <-release:
			case <-r.Context().Done():
			}
			return http.StatusOK
		}
		return http.StatusOK
	})
	defer close(release)
	a := startServer(t, both(redis, fastHooks))
	_, alice := a.user(t, "alice")
	a.project(t, alice, "alice/app", "private")
	a.mustAPI(t, 201, "POST", "/projects/alice%2Fapp/hooks", alice, map[string]any{"url": rc.URL, "resource_deploy_token_events": true}, nil)
	d := a.deployToken(t, alice, "alice/app", map[string]any{"name": "x", "scopes": []string{"read_registry"}})
	rc.await("the first replica's attempt", atLeast(1))
	a.shutdown(t) // dies holding the claim: nothing recorded
	b := startServer(t, both(redis, fastHooks, a.sameSecret))
	b.remember(d.Token)
	b.remember(alice)
	rs := rc.await("the second replica's attempt", atLeast(2))
	if rs[0].Key != rs[1].Key || rs[1].Body.ObjectAttributes.ID != d.ID {
		t.Fatalf("attempts %+v", rs)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(b.logs.String(), "webhook delivered") {
		if time.Now().After(deadline) {
			t.Fatalf("the second replica logged no delivery:\n%s", b.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(a.logs.String(), "webhook delivered") {
		t.Fatal("the replica that died recorded its delivery")
	}
}

package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// testClock is the server's clock in a test: real time moved forward by
// what the test asks, so a grace of hours ends without sleeping.
type testClock struct{ ahead atomic.Int64 }

func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.ahead.Load())) }

func (c *testClock) advance(d time.Duration) { c.ahead.Add(int64(d)) }

// rotatedInfo is a rotation's answer with the fields this test reads.
type rotatedInfo struct {
	deployTokenInfo
	RotatedAt      *string `json:"rotated_at"`
	PreviousSecret *struct {
		ExpiresAt string `json:"expires_at"`
	} `json:"previous_secret"`
}

// TestRotateEndToEnd rotates a deploy token with overlap and checks both
// secrets with the real clients: podman logs in and pulls from the real
// registry and git clones with each secret during the grace; the old one
// is refused once the grace ends (on an injected clock), a second rotation
// ends the older secret at once, and revoking stops both. The rotation is
// called through GitLab's Go client with a raw request, as a GitLab user
// would call a route the client lacks. Redis with the replica cache, so a
// rotation must reach the cached answers too.
func TestRotateEndToEnd(t *testing.T) {
	clock := &testClock{}
	e := startRegistryEnvAt(t, 0, redisConfig(t), func(c *Config) { c.authNow = clock.now })
	s := e.s
	work := t.TempDir()
	gitRun(t, work, "init", "-q", "-b", "main", "src")
	src := filepath.Join(work, "src")
	os.WriteFile(filepath.Join(src, "file"), []byte("hello"), 0o644)
	gitRun(t, src, "add", ".")
	gitRun(t, src, "commit", "-q", "-m", "first")
	host := strings.TrimPrefix(s.URL, "http://")
	gitRun(t, src, "push", "-q", fmt.Sprintf("http://dev:%s@%s/tanuki/app.git", e.dev, host), "main")

	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "rotating", "scopes": []string{"read_registry", "read_repository"}})
	gl, err := gitlab.NewClient(s.AdminToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	rotate := func(t *testing.T, grace string) rotatedInfo {
		t.Helper()
		opt := map[string]any{}
		if grace != "" {
			opt["grace"] = grace
		}
		req, err := gl.NewRequest(http.MethodPost, fmt.Sprintf("projects/%s/deploy_tokens/%d/rotate", gitlab.PathEscape("tanuki/app"), d.ID), opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		var r rotatedInfo
		resp, err := gl.Do(req, &r)
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		s.remember(r.Token)
		if resp.StatusCode != 200 || r.ID != d.ID || r.Username != d.Username || r.Token == "" || r.RotatedAt == nil ||
			strings.Join(r.Scopes, ",") != strings.Join(d.Scopes, ",") {
			t.Fatalf("rotated: %d %+v, want the same token (id %d, %s) with a new secret", resp.StatusCode, r, d.ID, d.Username)
		}
		return r
	}
	// works reports whether secret logs podman in and pulls, and clones.
	works := func(t *testing.T, secret string) (pull, clone bool) {
		t.Helper()
		podman := testenv.Podman(t)
		pull = podman.Login(e.reg.Host(), d.Username, secret) == nil && podman.Pull(e.ref("tanuki/app:v1")) == nil
		_, err := gitTry(t, work, "clone", "-q", fmt.Sprintf("http://%s:%s@%s/tanuki/app.git", d.Username, secret, host), filepath.Join(t.TempDir(), "c"))
		return pull, err == nil
	}
	want := func(t *testing.T, who string, secret string, ok bool) {
		t.Helper()
		pull, clone := works(t, secret)
		if pull != ok || clone != ok {
			t.Errorf("%s: pull %v, clone %v; want %v", who, pull, clone, ok)
		}
	}

	first := d.Token
	var second, third, fourth, fifth rotatedInfo
	t.Run("both secrets work during the grace", func(t *testing.T) {
		second = rotate(t, "2h")
		if second.Token == first {
			t.Fatal("rotation answered the same secret")
		}
		if second.PreviousSecret == nil || second.PreviousSecret.ExpiresAt == "" {
			t.Errorf("rotated token shows no previous secret: %+v", second)
		} else if until, err := time.Parse(time.RFC3339, second.PreviousSecret.ExpiresAt); err != nil || until.Sub(time.Now()) < 119*time.Minute || until.Sub(time.Now()) > 2*time.Hour {
			t.Errorf("previous secret ends at %s, want in 2h", second.PreviousSecret.ExpiresAt)
		}
		want(t, "old secret", first, true)
		want(t, "new secret", second.Token, true)
	})
	t.Run("the old secret is refused after the grace", func(t *testing.T) {
		clock.advance(2*time.Hour + time.Second)
		want(t, "old secret", first, false)
		want(t, "new secret", second.Token, true)
	})
	t.Run("rotating again ends the older secret at once", func(t *testing.T) {
		third = rotate(t, "")       // the default grace: a day
		fourth = rotate(t, "10800") // 3h: past the 2h the clock went ahead
		want(t, "secret of two rotations ago", second.Token, false)
		want(t, "previous secret", third.Token, true)
		want(t, "current secret", fourth.Token, true)
	})
	t.Run("no grace cuts at once", func(t *testing.T) {
		fifth = rotate(t, "0")
		want(t, "replaced secret", fourth.Token, false)
		want(t, "current secret", fifth.Token, true)
	})
	t.Run("revoking stops both", func(t *testing.T) {
		sixth := rotate(t, "3h")
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", d.ID), s.AdminToken, nil, nil)
		want(t, "previous secret", fifth.Token, false)
		want(t, "current secret", sixth.Token, false)
		if r := s.api(t, "POST", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d/rotate", d.ID), s.AdminToken, nil); r.Status != 400 {
			t.Errorf("rotating a revoked token: %d %s, want 400", r.Status, r.Body)
		}
	})
}

// TestRotateAPI checks what the rotate routes answer: who may, the grace
// parameter's bounds, the group form, and the CI token handed out anew.
func TestRotateAPI(t *testing.T) {
	s := startServer(t, func(c *Config) { c.RotationMaxGrace = 48 * time.Hour })
	devID, dev := s.user(t, "dev")
	s.project(t, s.AdminToken, "tanuki/app", "private")
	s.member(t, "tanuki/app", devID, 30)
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "t", "scopes": []string{"read_registry"}})
	path := fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d/rotate", d.ID)
	for _, tc := range []struct {
		name, token, path string
		body              map[string]any
		status            int
		message           string
	}{
		{"over the bound", s.AdminToken, path, map[string]any{"grace": "49h"}, 400, "grace"},
		{"not a duration", s.AdminToken, path, map[string]any{"grace": "soon"}, 400, "grace"},
		{"negative", s.AdminToken, path, map[string]any{"grace": "-1h"}, 400, "grace"},
		{"negative seconds", s.AdminToken, path, map[string]any{"grace": -5}, 400, "grace"},
		{"a developer", dev, path, nil, 403, ""},
		{"no such token", s.AdminToken, "/projects/tanuki%2Fapp/deploy_tokens/999/rotate", nil, 404, ""},
		{"seconds as a JSON number", s.AdminToken, path, map[string]any{"grace": 60}, 200, ""},
		{"days", s.AdminToken, path, map[string]any{"grace": "2d"}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.api(t, "POST", tc.path, tc.token, tc.body)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.message) {
				t.Errorf("%d %s, want %d naming %q", r.Status, r.Body, tc.status, tc.message)
			}
			if r.Status == 200 {
				var got deployTokenInfo
				r.json(t, &got)
				s.remember(got.Token)
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Error("a new secret answered without Cache-Control: no-store")
				}
			}
		})
	}

	t.Run("group token", func(t *testing.T) {
		s.groupAt(t, s.AdminToken, "corp")
		g := s.groupDeployToken(t, s.AdminToken, "corp", map[string]any{"name": "g", "scopes": []string{"read_repository"}})
		var got deployTokenInfo
		s.mustAPI(t, 200, "POST", fmt.Sprintf("/groups/corp/deploy_tokens/%d/rotate", g.ID), s.AdminToken, map[string]any{"grace": "1h"}, &got)
		s.remember(got.Token)
		if got.ID != g.ID || got.Token == "" || got.Token == g.Token {
			t.Errorf("rotated group token %+v", got)
		}
		if r := s.api(t, "POST", fmt.Sprintf("/groups/corp/deploy_tokens/%d/rotate", d.ID), s.AdminToken, nil); r.Status != 404 {
			t.Errorf("a project's token through its group's route: %d", r.Status)
		}
	})

	t.Run("the CI token hands out the new secret at once", func(t *testing.T) {
		ci := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": tokens.CITokenName})
		var got deployTokenInfo
		s.mustAPI(t, 200, "POST", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d/rotate", ci.ID), s.AdminToken, nil, &got)
		s.remember(got.Token)
		var vars []tokens.CIVariable
		s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fapp/ci/variables", s.AdminToken, nil, &vars)
		for _, v := range vars {
			if v.Key == "CI_DEPLOY_PASSWORD" && v.Value != got.Token {
				t.Errorf("CI_DEPLOY_PASSWORD is not the new secret (the old one: %v)", v.Value == ci.Token)
			}
		}
	})
}

// TestRotatePATGrace: a PAT rotated with a grace keeps working until it
// ends (on an injected clock), can't be rotated twice, a second rotation
// ends the older token at once, and revoking the newest ends its
// predecessor too. Without grace the old token stops at once (GitLab's
// behaviour, kept: TestAdmin checks it).
func TestRotatePATGrace(t *testing.T) {
	clock := &testClock{}
	s := startServer(t, func(c *Config) { c.authNow = clock.now })
	_, a := s.user(t, "alice")
	var self struct {
		ID int64 `json:"id"`
	}
	s.mustAPI(t, 200, "GET", "/personal_access_tokens/self", a, nil, &self)
	type pat struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	rotate := func(t *testing.T, token string, id int64, grace string) pat {
		t.Helper()
		var p pat
		s.mustAPI(t, 200, "POST", fmt.Sprintf("/personal_access_tokens/%d/rotate", id), token, map[string]any{"grace": grace}, &p)
		s.remember(p.Token)
		return p
	}
	works := func(t *testing.T, who, token string, want bool) {
		t.Helper()
		if r := s.api(t, "GET", "/user", token, nil); (r.Status == 200) != want {
			t.Errorf("%s: %d, want working %v", who, r.Status, want)
		}
	}
	b := rotate(t, a, self.ID, "1h")
	works(t, "old token in its grace", a, true)
	works(t, "new token", b.Token, true)
	if r := s.api(t, "POST", fmt.Sprintf("/personal_access_tokens/%d/rotate", self.ID), s.AdminToken, map[string]any{"grace": "1h"}); r.Status != 400 {
		t.Errorf("rotating a replaced token: %d %s, want 400", r.Status, r.Body)
	}
	if r := s.api(t, "POST", fmt.Sprintf("/personal_access_tokens/%d/rotate", b.ID), b.Token, map[string]any{"grace": "1y"}); r.Status != 400 || !strings.Contains(string(r.Body), "grace") {
		t.Errorf("a bad grace: %d %s, want 400 naming grace", r.Status, r.Body)
	}
	clock.advance(time.Hour + time.Second)
	works(t, "old token after its grace", a, false)
	works(t, "new token after the grace", b.Token, true)

	c := rotate(t, b.Token, b.ID, "2h")
	d := rotate(t, c.Token, c.ID, "2h")
	works(t, "token of two rotations ago", b.Token, false)
	works(t, "previous token", c.Token, true)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/personal_access_tokens/%d", d.ID), d.Token, nil, nil)
	works(t, "revoked token", d.Token, false)
	works(t, "its predecessor", c.Token, false)
}

package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCIPasswordNeedsAPIScope (issue 20, finding 2): a developer's
// read_api PAT, itself refused at /jwt/auth, used to read
// CI_DEPLOY_PASSWORD, a secret that may push. Now it gets the other
// variables and a warning; an api PAT gets the password, and the server
// logs who read it, with which PAT, from where, for which token.
func TestCIPasswordNeedsAPIScope(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	ci := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "gitlab-deploy-token", "scopes": []string{"read_registry", "write_registry"}})
	devID, _ := s.user(t, "dev")
	s.member(t, "tanuki/app", devID, 30)
	tests := []struct {
		name         string
		scopes       []string
		wantPassword bool
	}{
		{"read_api", []string{"read_api"}, false},
		{"read_api and read_registry", []string{"read_api", "read_registry"}, false},
		{"api", []string{"api"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pat struct {
				ID    int64  `json:"id"`
				Token string `json:"token"`
			}
			s.mustAPI(t, 201, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", devID), s.AdminToken, map[string]any{"name": tt.name, "scopes": tt.scopes}, &pat)
			s.remember(pat.Token)
			before := len(s.logs.String())
			var vars []struct{ Key, Value string }
			r := s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fapp/ci/variables", pat.Token, nil, &vars)
			got := map[string]string{}
			for _, v := range vars {
				got[v.Key] = v.Value
			}
			if (got["CI_DEPLOY_PASSWORD"] == ci.Token) != tt.wantPassword || (got["CI_DEPLOY_PASSWORD"] != "" && got["CI_DEPLOY_PASSWORD"] != ci.Token) {
				t.Fatalf("password handed out: %v, want %v", got["CI_DEPLOY_PASSWORD"] != "", tt.wantPassword)
			}
			if got["CI_REGISTRY_IMAGE"] == "" {
				t.Errorf("no CI_REGISTRY_IMAGE: %s", r.Body)
			}
			warning := r.Header.Get("X-Deploy-Token-Warning")
			audit := s.logs.String()[before:]
			if !tt.wantPassword {
				if !strings.Contains(warning, "api scope") {
					t.Errorf("warning %q, want it to name the api scope", warning)
				}
				if strings.Contains(audit, "handed out") {
					t.Errorf("a hand-out was logged without one:\n%s", audit)
				}
				return
			}
			if warning != "" {
				t.Errorf("warning %q with the password", warning)
			}
			for _, want := range []string{`msg="CI deploy password handed out"`, "by=dev", fmt.Sprintf("pat_id=%d", pat.ID),
				"from=127.0.0.1", "project=tanuki/app", fmt.Sprintf("token_id=%d", ci.ID)} {
				if !strings.Contains(audit, want) {
					t.Errorf("the audit line lacks %s:\n%s", want, audit)
				}
			}
		})
	}
}

// TestJWTAuthEmptyUsername: containerd, after its refresh token is
// refused, retries with Basic and an empty username; the answer must be
// the 401 with a Basic challenge that makes it ask the user to log in
// again, not a 400, and never counted as a failed login (more tries than
// the limit allows still answer 401, not 429).
func TestJWTAuthEmptyUsername(t *testing.T) {
	s := startServer(t, func(c *Config) { c.AuthMaxFailures = 3 })
	tests := []struct {
		name, userPass string
	}{
		{"empty username and password", ":"},
		{"empty username with a password", ":dtd_" + strings.Repeat("a", 32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 5 {
				req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?service="+s.cfg.RegistryService+"&scope=repository:tanuki/app:pull", nil)
				req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(tt.userPass)))
				r := do(t, req)
				if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
					t.Fatalf("try %d: %d, WWW-Authenticate %q: %s", i+1, r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
				}
			}
		})
	}
}

// TestUsernameCollision (issue 20, finding 5): a deploy token named root
// signed JWTs with sub=root. A deploy token may not take a user's
// username, nor a user a live deploy token's, in any case, on both
// stores; a revoked token's name is free again. A user's JWT has no
// auth_type; a deploy token's says deploy_token.
func TestUsernameCollision(t *testing.T) {
	stores := []struct {
		name string
		mod  func(*testing.T) func(*Config)
	}{
		{"bolt", func(*testing.T) func(*Config) { return nil }},
		{"redis", redisConfig},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := startServer(t, st.mod(t))
			s.project(t, s.AdminToken, "tanuki/app", "private")
			s.user(t, "alice")
			bot := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "b", "username": "bot", "scopes": []string{"read_registry"}})
			old := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "o", "username": "old", "scopes": []string{"read_registry"}})
			s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", old.ID), s.AdminToken, nil, nil)
			tests := []struct {
				name, method, path string
				body               map[string]any
				want               int
				message            string
			}{
				{"token named root", "POST", "/projects/tanuki%2Fapp/deploy_tokens", map[string]any{"name": "r", "username": "root", "scopes": []string{"read_registry"}}, 400, "username"},
				{"token named a user", "POST", "/projects/tanuki%2Fapp/deploy_tokens", map[string]any{"name": "a", "username": "alice", "scopes": []string{"read_registry"}}, 400, "username"},
				{"token named a user in another case", "POST", "/projects/tanuki%2Fapp/deploy_tokens", map[string]any{"name": "a", "username": "ALICE", "scopes": []string{"read_registry"}}, 400, "username"},
				{"group token named a user", "POST", "/groups/tanuki/deploy_tokens", map[string]any{"name": "a", "username": "alice", "scopes": []string{"read_registry"}}, 400, "username"},
				{"user named a live token", "POST", "/users", map[string]any{"username": "bot", "name": "bot"}, 409, "deploy token"},
				{"user named a live token in another case", "POST", "/users", map[string]any{"username": "Bot", "name": "bot"}, 409, "deploy token"},
				{"user named a revoked token", "POST", "/users", map[string]any{"username": "old", "name": "old"}, 201, ""},
				{"token with a free name", "POST", "/projects/tanuki%2Fapp/deploy_tokens", map[string]any{"name": "f", "username": "free", "scopes": []string{"read_registry"}}, 201, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := s.api(t, tt.method, tt.path, s.AdminToken, tt.body)
					s.remember(tokenOf(t, r))
					if r.Status != tt.want || !strings.Contains(r.message(), tt.message) {
						t.Fatalf("%d %s, want %d naming %q", r.Status, r.Body, tt.want, tt.message)
					}
				})
			}
			r := tokenRequest(t, s, bot.Username, bot.Token, "repository:tanuki/app:pull")
			if c := tokenClaims(t, s, r.Body); c["sub"] != "bot" || c["auth_type"] != "deploy_token" {
				t.Errorf("deploy token's JWT: sub %v, auth_type %v", c["sub"], c["auth_type"])
			}
			r = tokenRequest(t, s, "root", s.AdminToken, "repository:tanuki/app:pull")
			if c := tokenClaims(t, s, r.Body); c["sub"] != "root" || c["auth_type"] != nil {
				t.Errorf("user's JWT: sub %v, auth_type %v", c["sub"], c["auth_type"])
			}
		})
	}
}

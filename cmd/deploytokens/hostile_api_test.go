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

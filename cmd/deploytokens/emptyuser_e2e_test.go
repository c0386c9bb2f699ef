package main

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestTokenEmptyUsername: containerd, after its refresh token is refused,
// asks again with an empty username, as a Basic header on GET or as a
// password grant on POST. Both answer 401 with the Basic challenge, which
// tells the user to log in again (a 400 ends the pull with a parse
// error), and neither is counted as a failed login (issue 20, finding 8).
func TestTokenEmptyUsername(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "r", "scopes": []string{"read_registry"}})
	const formType = "application/x-www-form-urlencoded"
	post := func(form url.Values) apiResponse {
		req, _ := http.NewRequest("POST", s.URL+"/jwt/auth", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", formType)
		return do(t, req)
	}
	get := func(userPass string) apiResponse {
		q := url.Values{"service": {s.cfg.RegistryService}, "scope": {"repository:tanuki/app:pull"}}
		req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(userPass)))
		return do(t, req)
	}
	password := func(user, secret string) url.Values {
		return url.Values{"service": {s.cfg.RegistryService}, "grant_type": {"password"}, "username": {user},
			"password": {secret}, "scope": {"repository:tanuki/app:pull"}}
	}
	noUsername := password("", d.Token)
	noUsername.Del("username")
	tests := []struct {
		name string
		send func() apiResponse
	}{
		{"POST password grant, empty username", func() apiResponse { return post(password("", d.Token)) }},
		{"POST password grant, empty username and password", func() apiResponse { return post(password("", "")) }},
		{"POST password grant, no username field", func() apiResponse { return post(noUsername) }},
		{"GET Basic with an empty username", func() apiResponse { return get(":" + d.Token) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// More than the failures that ban: none may be counted.
			for i := range s.cfg.AuthMaxFailures + 2 {
				r := tt.send()
				if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") ||
					!strings.Contains(string(r.Body), `"UNAUTHORIZED"`) || !strings.Contains(string(r.Body), "log in again") {
					t.Fatalf("request %d: %d %q %s; want 401 with a Basic challenge asking to log in again",
						i+1, r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
				}
			}
			if r := post(password(d.Username, d.Token)); r.Status != 200 {
				t.Fatalf("the token after them: %d %s; want 200, not banned", r.Status, r.Body)
			}
		})
	}
}

package main

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

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

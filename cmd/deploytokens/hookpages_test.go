package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestHookAndIdentityListsPage: a project's hooks and a token's federated
// identities page as every list does (page, per_page, X-Total), and a bad
// page parameter is a 400 naming it; they answered the whole list to any
// value before (found in the black-box probe).
func TestHookAndIdentityListsPage(t *testing.T) {
	s := startServer(t, func(c *Config) { c.WebhookAllowPrivate, c.OIDCIssuers = true, "https://issuer.example" })
	s.project(t, s.AdminToken, "tanuki/app", "private")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "ci", "scopes": []string{"read_registry"}})
	idPath := fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d/federated_identities", d.ID)
	for i := range 3 {
		s.mustAPI(t, 201, "POST", "/projects/tanuki%2Fapp/hooks", s.AdminToken, map[string]any{"url": fmt.Sprintf("http://127.0.0.1:1/%d", i)}, nil)
		s.mustAPI(t, 201, "POST", idPath, s.AdminToken, map[string]any{"issuer": "https://issuer.example", "audience": "dt",
			"claims": map[string]any{"sub": fmt.Sprintf("ci-%d", i)}}, nil)
	}
	for _, list := range []string{"/projects/tanuki%2Fapp/hooks", idPath} {
		t.Run(list, func(t *testing.T) {
			var items []map[string]any
			r := s.mustAPI(t, 200, "GET", list+"?per_page=2&page=2", s.AdminToken, nil, &items)
			if len(items) != 1 || r.Header.Get("X-Total") != "3" || r.Header.Get("X-Page") != "2" {
				t.Errorf("page 2 of 2: %d items, X-Total %q, X-Page %q", len(items), r.Header.Get("X-Total"), r.Header.Get("X-Page"))
			}
			for _, q := range []string{"per_page=abc", "page=0"} {
				r := s.api(t, "GET", list+"?"+q, s.AdminToken, nil)
				name, _, _ := strings.Cut(q, "=")
				if r.Status != 400 || !strings.HasPrefix(r.message(), name+" ") {
					t.Errorf("%s: %d %s; want 400 naming %s", q, r.Status, r.Body, name)
				}
			}
		})
	}
}

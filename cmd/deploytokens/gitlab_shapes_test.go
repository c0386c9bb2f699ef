package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestGitLabShapes checks the API's answers against GitLab's, field by
// field (testdata/gitlab): every field GitLab answers is there, with the
// same JSON type.
func TestGitLabShapes(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	body := map[string]any{"name": "deployer", "expires_at": "2030-01-01", "scopes": []string{"read_repository", "read_registry"}}
	created := s.api(t, "POST", "/projects/tanuki%2Fapp/deploy_tokens", s.AdminToken, body)
	var d struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	created.json(t, &d)
	s.remember(d.Token)
	one := s.api(t, "GET", "/projects/tanuki%2Fapp/deploy_tokens/"+jsonInt(d.ID), s.AdminToken, nil)
	list := s.api(t, "GET", "/projects/tanuki%2Fapp/deploy_tokens", s.AdminToken, nil)
	var items []json.RawMessage
	list.json(t, &items)
	if len(items) != 1 {
		t.Fatalf("list: %s", list.Body)
	}
	missing := s.api(t, "GET", "/projects/"+url.PathEscape("tanuki/none")+"/deploy_tokens", s.AdminToken, nil)
	for _, tc := range []struct {
		name, golden string
		status, want int
		body         []byte
	}{
		{"create", "deploy_token_created.json", created.Status, 201, created.Body},
		{"get", "deploy_token.json", one.Status, 200, one.Body},
		{"list item", "deploy_token.json", list.Status, 200, items[0]},
		{"error", "error.json", missing.Status, 404, missing.Body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status != tc.want {
				t.Fatalf("status %d, want %d: %s", tc.status, tc.want, tc.body)
			}
			raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "gitlab", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			var want, got map[string]any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("%s: %v", tc.golden, err)
			}
			if err := json.Unmarshal(tc.body, &got); err != nil {
				t.Fatalf("answer %s: %v", tc.body, err)
			}
			for k, wv := range want {
				gv, ok := got[k]
				if !ok {
					t.Errorf("field %q missing from %s", k, tc.body)
					continue
				}
				if jsonType(gv) != jsonType(wv) {
					t.Errorf("field %q is a %s, GitLab answers a %s", k, jsonType(gv), jsonType(wv))
				}
			}
			if _, ok := got["token"]; ok && tc.golden != "deploy_token_created.json" {
				t.Errorf("a token's secret in an answer other than its creation: %s", tc.body)
			}
		})
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

func jsonInt(n int64) string { return strconv.FormatInt(n, 10) }

package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// secretPrefix matches the start of every secret the server makes.
var secretPrefix = regexp.MustCompile(`dt[dprs]_`)

type auditEventView struct {
	ID         int64  `json:"id"`
	AuthorID   int64  `json:"author_id"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
	EventName  string `json:"event_name"`
	CreatedAt  string `json:"created_at"`
	Details    struct {
		AuthorName    string `json:"author_name"`
		AuthorClass   string `json:"author_class"`
		TargetID      int64  `json:"target_id"`
		TargetType    string `json:"target_type"`
		TargetDetails string `json:"target_details"`
		IPAddress     string `json:"ip_address"`
		CustomMessage string `json:"custom_message"`
	} `json:"details"`
}

// TestAuditEvents: every kind of change appears once in the audit trail,
// with its author, entity and address; no secret is in any event; the
// lists page and filter as GitLab's do, and only maintainers (projects,
// groups) and admins (all) may read them.
func TestAuditEvents(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.AuthMaxFailures = 3
		// The failures come "from" another address, so the test's own
		// stays unbanned.
		c.TrustedProxies = "127.0.0.1/32"
		// A trust policy and a webhook are changes to record too; the
		// hook hears of nothing, so nothing is sent anywhere.
		c.OIDCIssuers, c.WebhookAllowPrivate = "https://issuer.example", true
	})
	aliceID, alice := s.user(t, "alice")
	bobID, bob := s.user(t, "bob")

	s.mustAPI(t, 201, "POST", "/groups", alice, map[string]any{"path": "corp"}, nil)
	s.mustAPI(t, 200, "PUT", "/groups/corp", alice, map[string]any{"description": "the corp"}, nil)
	s.mustAPI(t, 201, "POST", "/groups/corp/members", alice, map[string]any{"user_id": bobID, "access_level": 30}, nil)
	s.mustAPI(t, 200, "PUT", fmt.Sprintf("/groups/corp/members/%d", bobID), alice, map[string]any{"access_level": 20}, nil)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/groups/corp/members/%d", bobID), alice, nil, nil)
	s.project(t, alice, "corp/app", "private")
	s.mustAPI(t, 201, "POST", "/projects/corp%2Fapp/members", alice, map[string]any{"user_id": bobID, "access_level": 30}, nil)
	s.mustAPI(t, 200, "PUT", fmt.Sprintf("/projects/corp%%2Fapp/members/%d", bobID), alice, map[string]any{"access_level": 20}, nil)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/corp%%2Fapp/members/%d", bobID), alice, nil, nil)
	pt := s.deployToken(t, alice, "corp/app", map[string]any{"name": "gitlab-deploy-token", "scopes": []string{"read_registry"}})
	var gt deployTokenInfo
	s.mustAPI(t, 201, "POST", "/groups/corp/deploy_tokens", alice, map[string]any{"name": "g", "scopes": []string{"read_registry"}}, &gt)
	s.remember(gt.Token)
	s.mustAPI(t, 200, "GET", "/projects/corp%2Fapp/ci/variables", alice, nil, nil)
	var fid, hook struct {
		ID int64 `json:"id"`
	}
	s.mustAPI(t, 201, "POST", fmt.Sprintf("/projects/corp%%2Fapp/deploy_tokens/%d/federated_identities", pt.ID), alice,
		map[string]any{"issuer": "https://issuer.example", "audience": "deploytokens", "claims": map[string]any{"sub": "corp-ci"}}, &fid)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/corp%%2Fapp/deploy_tokens/%d/federated_identities/%d", pt.ID, fid.ID), alice, nil, nil)
	s.mustAPI(t, 201, "POST", "/projects/corp%2Fapp/hooks", alice,
		map[string]any{"url": "http://127.0.0.1:1/hook", "token": "hook-secret-value", "resource_deploy_token_events": false}, &hook)
	s.mustAPI(t, 200, "PUT", fmt.Sprintf("/projects/corp%%2Fapp/hooks/%d", hook.ID), alice, map[string]any{"url": "http://127.0.0.1:2/hook"}, nil)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/corp%%2Fapp/hooks/%d", hook.ID), alice, nil, nil)
	s.mustAPI(t, 201, "POST", "/admin/signing_keys/rotate", s.AdminToken, nil, nil)
	var prot, grot deployTokenInfo
	s.mustAPI(t, 200, "POST", fmt.Sprintf("/projects/corp%%2Fapp/deploy_tokens/%d/rotate", pt.ID), alice, nil, &prot)
	s.remember(prot.Token)
	s.mustAPI(t, 200, "POST", fmt.Sprintf("/groups/corp/deploy_tokens/%d/rotate", gt.ID), alice, map[string]any{"grace": "0"}, &grot)
	s.remember(grot.Token)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/corp%%2Fapp/deploy_tokens/%d", pt.ID), alice, nil, nil)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/groups/corp/deploy_tokens/%d", gt.ID), alice, nil, nil)
	var rotated struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	s.mustAPI(t, 200, "POST", "/personal_access_tokens/self/rotate", bob, nil, &rotated)
	s.remember(rotated.Token)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/personal_access_tokens/%d", rotated.ID), s.AdminToken, nil, nil)
	s.mustAPI(t, 201, "POST", "/groups", alice, map[string]any{"path": "tmp"}, nil)
	s.mustAPI(t, 202, "DELETE", "/groups/tmp", alice, nil, nil)
	for range 3 {
		req, _ := http.NewRequest("GET", s.URL+"/api/v4/user", nil)
		req.Header.Set("PRIVATE-TOKEN", "dtp_wrong")
		req.Header.Set("X-Forwarded-For", "192.0.2.9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	var all []auditEventView
	r := s.mustAPI(t, 200, "GET", "/audit_events?per_page=100", s.AdminToken, nil, &all)
	if secretPrefix.Match(r.Body) || strings.Contains(string(r.Body), "hook-secret-value") {
		t.Fatalf("an audit event holds a secret: %s", r.Body)
	}
	type key struct{ name, entity string }
	type want struct {
		author, ip string
		n          int
	}
	wants := map[key]want{
		{"personal_access_token_created", "User"}:               {"root", "127.0.0.1", 2},
		{"group_created", "Group"}:                              {"alice", "127.0.0.1", 2},
		{"group_updated", "Group"}:                              {"alice", "127.0.0.1", 1},
		{"group_destroyed", "Group"}:                            {"alice", "127.0.0.1", 1},
		{"member_created", "Group"}:                             {"alice", "127.0.0.1", 1},
		{"member_updated", "Group"}:                             {"alice", "127.0.0.1", 1},
		{"member_destroyed", "Group"}:                           {"alice", "127.0.0.1", 1},
		{"member_created", "Project"}:                           {"alice", "127.0.0.1", 1},
		{"member_updated", "Project"}:                           {"alice", "127.0.0.1", 1},
		{"member_destroyed", "Project"}:                         {"alice", "127.0.0.1", 1},
		{"deploy_token_created", "Project"}:                     {"alice", "127.0.0.1", 1},
		{"deploy_token_created", "Group"}:                       {"alice", "127.0.0.1", 1},
		{"ci_deploy_password_handed_out", "Project"}:            {"alice", "127.0.0.1", 1},
		{"federated_identity_created", "Project"}:               {"alice", "127.0.0.1", 1},
		{"federated_identity_destroyed", "Project"}:             {"alice", "127.0.0.1", 1},
		{"hook_created", "Project"}:                             {"alice", "127.0.0.1", 1},
		{"hook_updated", "Project"}:                             {"alice", "127.0.0.1", 1},
		{"hook_destroyed", "Project"}:                           {"alice", "127.0.0.1", 1},
		{"signing_key_rotated", "Gitlab::Audit::InstanceScope"}: {"root", "127.0.0.1", 1},
		{"deploy_token_rotated", "Project"}:                     {"alice", "127.0.0.1", 1},
		{"deploy_token_rotated", "Group"}:                       {"alice", "127.0.0.1", 1},
		{"deploy_token_revoked", "Project"}:                     {"alice", "127.0.0.1", 1},
		{"deploy_token_revoked", "Group"}:                       {"alice", "127.0.0.1", 1},
		{"personal_access_token_rotated", "User"}:               {"bob", "127.0.0.1", 1},
		{"personal_access_token_revoked", "User"}:               {"root", "127.0.0.1", 1},
		{"sign_in_failure_ban", "Gitlab::Audit::InstanceScope"}: {"deploytokens", "192.0.2.9", 1},
	}
	got := map[key]int{}
	for _, e := range all {
		k := key{e.EventName, e.EntityType}
		w, ok := wants[k]
		if !ok {
			t.Errorf("unexpected event %+v", e)
			continue
		}
		got[k]++
		if e.Details.AuthorName != w.author || e.Details.IPAddress != w.ip {
			t.Errorf("%v: author %q from %q, want %q from %q", k, e.Details.AuthorName, e.Details.IPAddress, w.author, w.ip)
		}
		if e.CreatedAt == "" || e.ID == 0 {
			t.Errorf("%v: no id or time: %+v", k, e)
		}
	}
	for k, w := range wants {
		if got[k] != w.n {
			t.Errorf("%v: %d events, want %d", k, got[k], w.n)
		}
	}
	for _, e := range all {
		switch {
		case e.EventName == "deploy_token_created" && e.EntityType == "Project":
			if e.Details.TargetID != pt.ID || e.Details.TargetType != "DeployToken" || e.AuthorID != aliceID || e.Details.AuthorClass != "User" {
				t.Errorf("project token created: %+v", e)
			}
		case e.EventName == "sign_in_failure_ban":
			if e.AuthorID != -1 || e.Details.AuthorClass != "System" {
				t.Errorf("ban: %+v", e)
			}
		}
	}

	t.Run("lists", func(t *testing.T) {
		_, carol := s.user(t, "carol")
		total := len(all) + 1 // carol's token
		for _, tc := range []struct {
			name, path, token string
			status, n, total  int
		}{
			{"first page", "/audit_events?per_page=5", s.AdminToken, 200, 5, total},
			{"last page", fmt.Sprintf("/audit_events?per_page=5&page=%d", (total+4)/5), s.AdminToken, 200, total - 5*((total-1)/5), total},
			{"by name", "/audit_events?event_name=deploy_token_created", s.AdminToken, 200, 2, 2},
			{"page of a name", "/audit_events?event_name=member_created&per_page=1&page=2", s.AdminToken, 200, 1, 2},
			{"after all", "/audit_events?created_after=2999-01-01T00:00:00Z", s.AdminToken, 200, 0, 0},
			{"before all", "/audit_events?created_before=2000-01-01", s.AdminToken, 200, 0, 0},
			{"within", "/audit_events?created_after=2000-01-01&created_before=2999-01-01T00:00:00Z&per_page=100", s.AdminToken, 200, total, total},
			{"bad time", "/audit_events?created_after=yesterday", s.AdminToken, 400, 0, 0},
			{"not an admin", "/audit_events", alice, 403, 0, 0},
			// member x3, token created, rotated, revoked, CI hand-out,
			// a policy added and removed, a hook created, changed, deleted.
			{"project", "/projects/corp%2Fapp/audit_events", alice, 200, 12, 12},
			{"project by name", "/projects/corp%2Fapp/audit_events?event_name=member_created", alice, 200, 1, 1},
			{"project, not a member", "/projects/corp%2Fapp/audit_events", carol, 404, 0, 0},
			// created, updated, member x3, token created, rotated, revoked.
			{"group", "/groups/corp/audit_events", alice, 200, 8, 8},
			{"group, not a member", "/groups/corp/audit_events", carol, 404, 0, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var es []auditEventView
				r := s.api(t, "GET", tc.path, tc.token, nil)
				if r.Status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
				}
				if tc.status != 200 {
					return
				}
				r.json(t, &es)
				if len(es) != tc.n || r.Header.Get("X-Total") != fmt.Sprint(tc.total) {
					t.Fatalf("%d events, X-Total %s; want %d of %d", len(es), r.Header.Get("X-Total"), tc.n, tc.total)
				}
				for i := 1; i < len(es); i++ {
					if es[i].ID >= es[i-1].ID {
						t.Fatalf("not newest first: %d after %d", es[i].ID, es[i-1].ID)
					}
				}
			})
		}
	})
}

package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// jwtStatus asks /jwt/auth for a pull of project as username:secret.
func jwtStatus(t *testing.T, s *testServer, username, secret, project string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?service="+s.cfg.RegistryService+"&scope=repository:"+project+":pull", nil)
	req.SetBasicAuth(username, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminUsers lists, blocks and deletes users through the API, on both
// stores: a blocked user's token stops at once on the API and /jwt/auth
// and works again once unblocked; the deploy tokens they made keep
// working throughout; a user who is a project's only owner is not
// deleted.
func TestAdminUsers(t *testing.T) {
	for _, store := range []struct {
		name string
		mod  func(t *testing.T) func(*Config)
	}{
		{"embedded", func(*testing.T) func(*Config) { return nil }},
		{"redis", redisConfig},
	} {
		t.Run(store.name, func(t *testing.T) {
			s := startServer(t, store.mod(t))
			aliceID, alice := s.user(t, "alice")
			bobID, bob := s.user(t, "bob")
			s.project(t, alice, "alice/app", "private")
			deploy := s.deployToken(t, alice, "alice/app", map[string]any{"name": "ci", "scopes": []string{"read_registry"}})
			user := func(id int64) string { return fmt.Sprintf("/users/%d", id) }

			// users is decoded afresh each time: decoding into the maps
			// of an earlier answer would keep its keys.
			var users []map[string]any
			r := s.mustAPI(t, 200, "GET", "/users?per_page=2", s.AdminToken, nil, &users)
			if r.Header.Get("X-Total") != "3" || r.Header.Get("X-Total-Pages") != "2" || len(users) != 2 || users[0]["username"] != "root" {
				t.Fatalf("first page: %v, X-Total %q", users, r.Header.Get("X-Total"))
			}
			if _, ok := users[0]["is_admin"]; !ok {
				t.Errorf("admin's list lacks is_admin: %v", users[0])
			}
			users = nil
			s.mustAPI(t, 200, "GET", "/users?page=2&per_page=2", s.AdminToken, nil, &users)
			if len(users) != 1 || users[0]["username"] != "bob" || users[0]["state"] != "active" {
				t.Errorf("second page: %v", users)
			}
			users = nil
			s.mustAPI(t, 200, "GET", "/users?search=LIC", bob, nil, &users)
			if len(users) != 1 || users[0]["username"] != "alice" {
				t.Errorf("search: %v", users)
			}
			if _, ok := users[0]["is_admin"]; ok {
				t.Errorf("a user's list shows is_admin: %v", users[0])
			}
			users = nil
			s.mustAPI(t, 200, "GET", "/users?username=BOB", bob, nil, &users)
			if len(users) != 1 || users[0]["id"] != float64(bobID) {
				t.Errorf("by username: %v", users)
			}

			refusals := []struct {
				name, method, path, token string
				want                      int
			}{
				{"a user blocks", "POST", user(bobID) + "/block", alice, 403},
				{"a user deletes", "DELETE", user(bobID), alice, 403},
				{"block root", "POST", user(1) + "/block", s.AdminToken, 403},
				{"delete root", "DELETE", user(1), s.AdminToken, 403},
				{"block nobody", "POST", user(999) + "/block", s.AdminToken, 404},
				{"block a bad id", "POST", "/users/x/block", s.AdminToken, 400},
				{"blocked=maybe", "GET", "/users?blocked=maybe", s.AdminToken, 400},
			}
			for _, tt := range refusals {
				if r := s.api(t, tt.method, tt.path, tt.token, nil); r.Status != tt.want {
					t.Errorf("%s: %d %s, want %d", tt.name, r.Status, r.Body, tt.want)
				}
			}

			for range 2 { // blocking a blocked user is fine
				r := s.mustAPI(t, 201, "POST", user(aliceID)+"/block", s.AdminToken, nil, nil)
				if strings.TrimSpace(string(r.Body)) != "true" {
					t.Errorf("block answered %s, want true", r.Body)
				}
			}
			if r := s.api(t, "GET", "/user", alice, nil); r.Status != 401 {
				t.Errorf("blocked user's token on the API: %d", r.Status)
			}
			if st := jwtStatus(t, s, "alice", alice, "alice/app"); st != 401 {
				t.Errorf("blocked user's token at /jwt/auth: %d", st)
			}
			if st := jwtStatus(t, s, deploy.Username, deploy.Token, "alice/app"); st != 200 {
				t.Errorf("blocked user's deploy token at /jwt/auth: %d", st)
			}
			users = nil
			s.mustAPI(t, 200, "GET", "/users?blocked=true", s.AdminToken, nil, &users)
			if len(users) != 1 || users[0]["username"] != "alice" || users[0]["state"] != "blocked" {
				t.Errorf("blocked users: %v", users)
			}
			s.mustAPI(t, 201, "POST", user(aliceID)+"/unblock", s.AdminToken, nil, nil)
			s.mustAPI(t, 200, "GET", "/user", alice, nil, nil)

			r = s.mustAPI(t, 409, "DELETE", user(aliceID), s.AdminToken, nil, nil)
			if !strings.Contains(r.message(), "alice/app") {
				t.Errorf("delete of an only owner: %q, want it to name alice/app", r.message())
			}
			s.member(t, "alice/app", bobID, 50)
			s.mustAPI(t, 204, "DELETE", user(aliceID), s.AdminToken, nil, nil)
			s.mustAPI(t, 404, "DELETE", user(aliceID), s.AdminToken, nil, nil)
			if r := s.api(t, "GET", "/user", alice, nil); r.Status != 401 {
				t.Errorf("deleted user's token: %d", r.Status)
			}
			if st := jwtStatus(t, s, deploy.Username, deploy.Token, "alice/app"); st != 200 {
				t.Errorf("deleted user's deploy token at /jwt/auth: %d", st)
			}
			users = nil
			r = s.mustAPI(t, 200, "GET", "/users", s.AdminToken, nil, &users)
			if r.Header.Get("X-Total") != "2" {
				t.Errorf("users after delete: %v", users)
			}
		})
	}
}

// TestAdminGitLabClient drives the administration endpoints with GitLab's
// own Go client.
func TestAdminGitLabClient(t *testing.T) {
	s := startServer(t, nil)
	aliceID, alice := s.user(t, "alice")
	bobID, _ := s.user(t, "bob")
	gl, err := gitlab.NewClient(s.AdminToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	asAlice, err := gitlab.NewClient(alice, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}

	v, _, err := gl.Version.GetVersion()
	if err != nil || v.Version == "" || v.Revision == "" {
		t.Errorf("version %+v, %v", v, err)
	}
	m, _, err := gl.Metadata.GetMetadata()
	if err != nil || m.Version != v.Version || m.KAS.Enabled || m.Enterprise {
		t.Errorf("metadata %+v, %v", m, err)
	}

	users, resp, err := gl.Users.ListUsers(&gitlab.ListUsersOptions{Search: gitlab.Ptr("bo")})
	if err != nil || len(users) != 1 || users[0].ID != bobID || resp.TotalItems != 1 {
		t.Errorf("users %+v, %v", users, err)
	}
	if err := gl.Users.BlockUser(aliceID); err != nil {
		t.Fatalf("block: %v", err)
	}
	users, _, err = gl.Users.ListUsers(&gitlab.ListUsersOptions{Blocked: gitlab.Ptr(true)})
	if err != nil || len(users) != 1 || users[0].State != "blocked" {
		t.Errorf("blocked users %+v, %v", users, err)
	}
	if _, _, err := asAlice.Users.CurrentUser(); err == nil {
		t.Error("a blocked user's token still works")
	}
	if err := gl.Users.UnblockUser(aliceID); err != nil {
		t.Fatalf("unblock: %v", err)
	}

	// Alice lists her own tokens; the admin anyone's.
	own, _, err := asAlice.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{})
	if err != nil || len(own) != 1 || own[0].UserID != aliceID {
		t.Fatalf("alice's tokens %+v, %v", own, err)
	}
	all, resp, err := gl.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{})
	if err != nil || len(all) != 2 || resp.TotalItems != 2 {
		t.Errorf("all tokens %+v, %v", all, err)
	}
	ofBob, _, err := gl.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{UserID: gitlab.Ptr(bobID)})
	if err != nil || len(ofBob) != 1 || ofBob[0].UserID != bobID {
		t.Errorf("bob's tokens %+v, %v", ofBob, err)
	}
	if _, _, err := asAlice.PersonalAccessTokens.ListPersonalAccessTokens(&gitlab.ListPersonalAccessTokensOptions{UserID: gitlab.Ptr(bobID)}); err == nil {
		t.Error("alice listed bob's tokens")
	}

	// Alice rotates her token: the new one works, the old one not.
	rotated, _, err := asAlice.PersonalAccessTokens.RotatePersonalAccessToken(own[0].ID, nil)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	s.remember(rotated.Token)
	week := time.Now().UTC().AddDate(0, 0, 7).Format(time.DateOnly)
	if rotated.Token == "" || rotated.Name != own[0].Name || rotated.ExpiresAt == nil || rotated.ExpiresAt.String() != week || !rotated.Active {
		t.Errorf("rotated %+v, want an active token expiring %s", rotated, week)
	}
	if r := s.api(t, "GET", "/user", alice, nil); r.Status != 401 {
		t.Errorf("old token after rotation: %d", r.Status)
	}
	s.mustAPI(t, 200, "GET", "/user", rotated.Token, nil, nil)
	if r := s.api(t, "POST", fmt.Sprintf("/personal_access_tokens/%d/rotate", own[0].ID), s.AdminToken, nil); r.Status != 400 {
		t.Errorf("rotating a revoked token: %d %s, want 400", r.Status, r.Body)
	}
	if r := s.api(t, "POST", fmt.Sprintf("/personal_access_tokens/%d/rotate", ofBob[0].ID), rotated.Token, nil); r.Status != 404 {
		t.Errorf("alice rotating bob's token: %d, want 404", r.Status)
	}
	exp := gitlab.ISOTime(time.Date(2099, 1, 2, 0, 0, 0, 0, time.UTC))
	byAdmin, _, err := gl.PersonalAccessTokens.RotatePersonalAccessToken(ofBob[0].ID, &gitlab.RotatePersonalAccessTokenOptions{ExpiresAt: &exp})
	if err != nil || byAdmin.ExpiresAt.String() != "2099-01-02" || byAdmin.UserID != bobID {
		t.Errorf("admin rotating bob's token: %+v, %v", byAdmin, err)
	} else {
		s.remember(byAdmin.Token)
	}

	// Maintainers rename a project and change its visibility.
	s.project(t, s.AdminToken, "team/app", "private")
	s.member(t, "team/app", aliceID, 30)
	if _, _, err := asAlice.Projects.EditProject("team/app", &gitlab.EditProjectOptions{Name: gitlab.Ptr("Nope")}); err == nil {
		t.Error("a developer renamed the project")
	}
	s.member(t, "team/app", bobID, 40)
	asAlice, _ = gitlab.NewClient(rotated.Token, gitlab.WithBaseURL(s.URL+"/api/v4"))
	s.mustAPI(t, 200, "PUT", "/projects/team%2Fapp/members/"+fmt.Sprint(aliceID), s.AdminToken, map[string]any{"access_level": 40}, nil)
	p, _, err := asAlice.Projects.EditProject("team/app", &gitlab.EditProjectOptions{Name: gitlab.Ptr("Team App"), Visibility: gitlab.Ptr(gitlab.PublicVisibility)})
	if err != nil || p.Name != "Team App" || p.Path != "app" || p.NameWithNamespace != "team / Team App" || p.Visibility != gitlab.PublicVisibility {
		t.Errorf("edited project %+v, %v", p, err)
	}
	got, _, err := gl.Projects.GetProject("team/app", nil)
	if err != nil || got.Name != "Team App" || got.Visibility != gitlab.PublicVisibility {
		t.Errorf("project after edit %+v, %v", got, err)
	}
	for _, body := range []map[string]any{{"visibility": "secret"}, {"name": ""}, {"name": "a\u202eb"}} {
		if r := s.api(t, "PUT", "/projects/team%2Fapp", s.AdminToken, body); r.Status != 400 {
			t.Errorf("PUT %v: %d %s, want 400", body, r.Status, r.Body)
		}
	}
}

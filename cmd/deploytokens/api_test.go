package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

func stores(t *testing.T) []struct {
	name string
	mod  func(*Config)
} {
	return []struct {
		name string
		mod  func(*Config)
	}{
		{"embedded", nil},
		{"redis", redisConfig(t)},
	}
}

// TestWalkthrough follows the README: a project, a deploy token, list,
// revoke; on both stores.
func TestWalkthrough(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			s := startServer(t, st.mod)
			p := s.project(t, s.AdminToken, "tanuki/awesome_project", "")
			if p.PathWithNamespace != "tanuki/awesome_project" || p.Visibility != "private" || p.HTTPURLToRepo != "http://"+s.Host+"/tanuki/awesome_project.git" {
				t.Fatalf("project = %+v", p)
			}
			d := s.deployToken(t, s.AdminToken, "tanuki/awesome_project", map[string]any{
				"name": "deployer", "expires_at": "2099-01-01", "scopes": []string{"read_repository", "read_registry"}})
			if d.Username != fmt.Sprintf("gitlab+deploy-token-%d", d.ID) || !strings.HasPrefix(d.Token, "dtd_") ||
				d.ExpiresAt == nil || *d.ExpiresAt != "2099-01-01T00:00:00.000Z" || d.Revoked || d.Expired {
				t.Fatalf("created = %+v", d)
			}
			var list []deployTokenInfo
			r := s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fawesome_project/deploy_tokens", s.AdminToken, nil, &list)
			if len(list) != 1 || list[0].Token != "" || list[0].Name != "deployer" || r.Header.Get("X-Total") != "1" {
				t.Fatalf("list = %+v, X-Total %q", list, r.Header.Get("X-Total"))
			}
			var one deployTokenInfo
			s.mustAPI(t, 200, "GET", fmt.Sprintf("/projects/%d/deploy_tokens/%d", p.ID, d.ID), s.AdminToken, nil, &one)
			if one.ID != d.ID || one.Token != "" {
				t.Fatalf("get = %+v", one)
			}
			s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/%d/deploy_tokens/%d", p.ID, d.ID), s.AdminToken, nil, nil)
			s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fawesome_project/deploy_tokens", s.AdminToken, nil, &list)
			if len(list) != 1 || !list[0].Revoked {
				t.Fatalf("after revoke: %+v", list)
			}
			s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fawesome_project/deploy_tokens?active=true", s.AdminToken, nil, &list)
			if len(list) != 0 {
				t.Fatalf("active after revoke: %+v", list)
			}
			var all []deployTokenInfo
			s.mustAPI(t, 200, "GET", "/deploy_tokens", s.AdminToken, nil, &all)
			if len(all) != 1 {
				t.Fatalf("admin list: %+v", all)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	s := startServer(t, nil)
	ownerID, owner := s.user(t, "owner")
	p := s.project(t, owner, "grp/app", "private")
	pub := s.project(t, owner, "grp/open", "public")
	roles := map[string]int{"guest": 10, "reporter": 20, "developer": 30, "maintainer": 40}
	tok := map[string]string{"owner": owner, "admin": s.AdminToken}
	for role, level := range roles {
		id, pat := s.user(t, role)
		s.member(t, p.PathWithNamespace, id, level)
		s.member(t, pub.PathWithNamespace, id, level)
		tok[role] = pat
	}
	_, tok["stranger"] = s.user(t, "stranger")
	_, tok["readapi"] = s.user(t, "readapi", "read_api")
	tests := []struct {
		who            string
		project        string
		create, list   int
		projectVisible int
	}{
		{"admin", "grp/app", 201, 200, 200},
		{"owner", "grp/app", 201, 200, 200},
		{"maintainer", "grp/app", 201, 200, 200},
		{"developer", "grp/app", 403, 403, 200},
		{"reporter", "grp/app", 403, 403, 200},
		{"guest", "grp/app", 403, 403, 200},
		{"stranger", "grp/app", 404, 404, 404},
		{"stranger", "grp/open", 403, 403, 200},
		{"readapi", "grp/app", 403, 404, 404},
	}
	for _, tt := range tests {
		t.Run(tt.who+"/"+tt.project, func(t *testing.T) {
			ref := url.PathEscape(tt.project)
			if r := s.api(t, "GET", "/projects/"+ref, tok[tt.who], nil); r.Status != tt.projectVisible {
				t.Errorf("get project: %d %s", r.Status, r.Body)
			}
			r := s.api(t, "POST", "/projects/"+ref+"/deploy_tokens", tok[tt.who], map[string]any{"name": "x", "scopes": []string{"read_registry"}})
			if r.Status != tt.create {
				t.Errorf("create: %d %s", r.Status, r.Body)
			}
			if r.Status == 201 {
				var d deployTokenInfo
				r.json(t, &d)
				s.remember(d.Token)
			}
			if r := s.api(t, "GET", "/projects/"+ref+"/deploy_tokens", tok[tt.who], nil); r.Status != tt.list {
				t.Errorf("list: %d %s", r.Status, r.Body)
			}
		})
	}
	t.Run("read_api cannot write", func(t *testing.T) {
		r := s.api(t, "POST", "/projects", tok["readapi"], map[string]any{"path": "x"})
		if r.Status != 403 || !strings.Contains(r.message(), "api") {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("no token", func(t *testing.T) {
		if r := s.api(t, "GET", "/user", "", nil); r.Status != 401 || r.message() != "401 Unauthorized" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if r := s.api(t, "GET", "/user", "dtp_wrongwrongwrongwrongwrongwrong", nil); r.Status != 401 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("bearer", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.URL+"/api/v4/user", nil)
		req.Header.Set("Authorization", "Bearer "+tok["developer"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("members up to own level", func(t *testing.T) {
		id, _ := s.user(t, "newbie")
		ref := "/projects/" + url.PathEscape("grp/app") + "/members"
		if r := s.api(t, "POST", ref, tok["maintainer"], map[string]any{"user_id": id, "access_level": 50}); r.Status != 403 {
			t.Errorf("maintainer grants owner: %d %s", r.Status, r.Body)
		}
		if r := s.api(t, "POST", ref, tok["developer"], map[string]any{"user_id": id, "access_level": 10}); r.Status != 403 {
			t.Errorf("developer adds member: %d %s", r.Status, r.Body)
		}
		s.mustAPI(t, 201, "POST", ref, tok["maintainer"], map[string]any{"user_id": id, "access_level": 40}, nil)
		s.mustAPI(t, 200, "PUT", fmt.Sprintf("%s/%d", ref, id), tok["maintainer"], map[string]any{"access_level": 30}, nil)
		if r := s.api(t, "PUT", fmt.Sprintf("%s/%d", ref, ownerID), tok["maintainer"], map[string]any{"access_level": 10}); r.Status != 403 {
			t.Errorf("maintainer demotes owner: %d %s", r.Status, r.Body)
		}
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("%s/%d", ref, id), tok["maintainer"], nil, nil)
		if r := s.api(t, "PUT", fmt.Sprintf("%s/%d", ref, ownerID), owner, map[string]any{"access_level": 40}); r.Status != 400 {
			t.Errorf("the last owner demotes themselves: %d %s", r.Status, r.Body)
		}
		if r := s.api(t, "DELETE", fmt.Sprintf("%s/%d", ref, ownerID), s.AdminToken, nil); r.Status != 400 {
			t.Errorf("the last owner is removed: %d %s", r.Status, r.Body)
		}
		var ms []map[string]any
		s.mustAPI(t, 200, "GET", ref, tok["guest"], nil, &ms)
		if len(ms) != 5 {
			t.Errorf("members: %d", len(ms))
		}
	})
	t.Run("a member leaves", func(t *testing.T) {
		id, leaver := s.user(t, "leaver")
		s.member(t, "grp/app", id, 20)
		ref := "/projects/" + url.PathEscape("grp/app") + "/members/"
		if r := s.api(t, "DELETE", ref+strconv.FormatInt(mustID(t, s, "guest"), 10), leaver, nil); r.Status != 403 {
			t.Errorf("a reporter removes another member: %d %s", r.Status, r.Body)
		}
		s.mustAPI(t, 204, "DELETE", ref+strconv.FormatInt(id, 10), leaver, nil, nil)
		if r := s.api(t, "GET", "/projects/"+url.PathEscape("grp/app"), leaver, nil); r.Status != 404 {
			t.Errorf("after leaving, the private project answers %d", r.Status)
		}
		if r := s.api(t, "DELETE", ref+strconv.FormatInt(ownerID, 10), owner, nil); r.Status != 400 {
			t.Errorf("the last owner leaves: %d %s", r.Status, r.Body)
		}
	})
	t.Run("maintainer removes owner", func(t *testing.T) {
		// A second owner, so that the last-owner rule is not what refuses.
		id, _ := s.user(t, "coowner")
		s.member(t, "grp/app", id, 50)
		ref := fmt.Sprintf("/projects/%s/members/%d", url.PathEscape("grp/app"), id)
		if r := s.api(t, "DELETE", ref, tok["maintainer"], nil); r.Status != 403 {
			t.Errorf("maintainer removes an owner: %d %s", r.Status, r.Body)
		}
		s.mustAPI(t, 204, "DELETE", ref, owner, nil, nil)
	})
	t.Run("admin only", func(t *testing.T) {
		// Users, PATs for anyone, and every project's tokens are the
		// admin's: an api-scoped maintainer gets 403.
		for _, c := range []struct {
			method, path string
			body         map[string]any
		}{
			{"POST", "/users", map[string]any{"username": "mallory", "name": "Mallory"}},
			{"POST", "/users/1/personal_access_tokens", map[string]any{"name": "root-again", "scopes": []string{"api"}}},
			{"GET", "/deploy_tokens", nil},
		} {
			if r := s.api(t, c.method, c.path, tok["maintainer"], c.body); r.Status != 403 {
				t.Errorf("maintainer %s %s: %d %s", c.method, c.path, r.Status, r.Body)
			}
			if c.method == "GET" {
				s.mustAPI(t, 200, c.method, c.path, s.AdminToken, nil, nil)
			}
		}
	})
	t.Run("developer revokes", func(t *testing.T) {
		var d deployTokenInfo
		s.mustAPI(t, 201, "POST", "/projects/grp%2Fapp/deploy_tokens", tok["maintainer"], map[string]any{"name": "keep", "scopes": []string{"read_registry"}}, &d)
		s.remember(d.Token)
		ref := fmt.Sprintf("/projects/grp%%2Fapp/deploy_tokens/%d", d.ID)
		if r := s.api(t, "DELETE", ref, tok["developer"], nil); r.Status != 403 {
			t.Errorf("developer revokes a deploy token: %d %s", r.Status, r.Body)
		}
		var got deployTokenInfo
		s.mustAPI(t, 200, "GET", ref, tok["maintainer"], nil, &got)
		if got.Revoked {
			t.Errorf("the token was revoked by a developer: %+v", got)
		}
	})
	t.Run("project list", func(t *testing.T) {
		// An internal project: every signed-in user sees it, members or not.
		s.project(t, owner, "grp/inside", "internal")
		var ps []projectInfo
		s.mustAPI(t, 200, "GET", "/projects", tok["stranger"], nil, &ps)
		if len(ps) != 2 || ps[0].PathWithNamespace+" "+ps[1].PathWithNamespace != "grp/open grp/inside" &&
			ps[0].PathWithNamespace+" "+ps[1].PathWithNamespace != "grp/inside grp/open" {
			t.Fatalf("stranger sees %+v", ps)
		}
		s.mustAPI(t, 200, "GET", "/projects", tok["guest"], nil, &ps)
		if len(ps) != 3 {
			t.Fatalf("guest sees %+v", ps)
		}
	})
	t.Run("delete project", func(t *testing.T) {
		q := s.project(t, owner, "grp/doomed", "private")
		if r := s.api(t, "DELETE", fmt.Sprintf("/projects/%d", q.ID), tok["maintainer"], nil); r.Status != 404 {
			t.Errorf("maintainer (non-member) deletes: %d", r.Status)
		}
		s.member(t, q.PathWithNamespace, mustID(t, s, "maintainer"), 40)
		if r := s.api(t, "DELETE", fmt.Sprintf("/projects/%d", q.ID), tok["maintainer"], nil); r.Status != 403 {
			t.Errorf("maintainer deletes: %d", r.Status)
		}
		s.mustAPI(t, 202, "DELETE", fmt.Sprintf("/projects/%d", q.ID), owner, nil, nil)
		if r := s.api(t, "GET", fmt.Sprintf("/projects/%d", q.ID), s.AdminToken, nil); r.Status != 404 {
			t.Errorf("deleted project answers %d", r.Status)
		}
	})
}

func mustID(t *testing.T, s *testServer, username string) int64 {
	t.Helper()
	u, err := s.app.store.UserByUsername(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestBadInput sends malformed requests: each gets a 4xx naming the
// problem, and the store is unchanged.
func TestBadInput(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "")
	const dt = "/projects/tanuki%2Fapp/deploy_tokens"
	tests := []struct {
		name, method, path string
		body               any
		status             int
		mentions           string
	}{
		{"malformed json", "POST", dt, `{"name":`, 400, "JSON"},
		{"json array", "POST", dt, `[1,2]`, 400, "JSON"},
		{"trailing garbage", "POST", dt, `{"name":"a","scopes":["read_registry"]} x`, 400, "JSON"},
		{"missing name", "POST", dt, map[string]any{"scopes": []string{"read_registry"}}, 400, "name"},
		{"long name", "POST", dt, map[string]any{"name": strings.Repeat("n", 256), "scopes": []string{"read_registry"}}, 400, "name"},
		{"control chars in name", "POST", dt, map[string]any{"name": "a\x00b", "scopes": []string{"read_registry"}}, 400, "name"},
		{"unknown scope", "POST", dt, map[string]any{"name": "a", "scopes": []string{"write_repository"}}, 400, "scopes"},
		{"empty scopes", "POST", dt, map[string]any{"name": "a", "scopes": []string{}}, 400, "scopes"},
		{"missing scopes", "POST", dt, map[string]any{"name": "a"}, 400, "scopes"},
		{"scopes wrong type", "POST", dt, `{"name":"a","scopes":{"x":1}}`, 400, "scopes"},
		{"bad username", "POST", dt, map[string]any{"name": "a", "username": "bad user!", "scopes": []string{"read_registry"}}, 400, "username"},
		{"another token's default username", "POST", dt, map[string]any{"name": "a", "username": "GitLab+deploy-token-7", "scopes": []string{"read_registry"}}, 400, "default username"},
		{"long username", "POST", dt, map[string]any{"name": "a", "username": strings.Repeat("u", 256), "scopes": []string{"read_registry"}}, 400, "username"},
		{"bad expires_at", "POST", dt, map[string]any{"name": "a", "expires_at": "next week", "scopes": []string{"read_registry"}}, 400, "expires_at"},
		{"past expires_at", "POST", dt, map[string]any{"name": "a", "expires_at": "2001-01-01", "scopes": []string{"read_registry"}}, 400, "expires_at"},
		{"today expires_at", "POST", dt, map[string]any{"name": "a", "expires_at": time.Now().UTC().Format(time.DateOnly), "scopes": []string{"read_registry"}}, 400, "expires_at"},
		{"bad token id", "GET", dt + "/abc", nil, 400, "token_id"},
		{"huge token id", "GET", dt + "/99999999999999999999999", nil, 400, "token_id"},
		{"unknown token", "DELETE", dt + "/12345", nil, 404, "Deploy Token"},
		{"bad page", "GET", dt + "?page=x", nil, 400, "page"},
		{"zero per_page", "GET", dt + "?per_page=0", nil, 400, "per_page"},
		{"zero page", "GET", dt + "?page=0", nil, 400, "page"},
		{"negative page", "GET", dt + "?page=-3", nil, 400, "page"},
		{"bad active", "GET", dt + "?active=maybe", nil, 400, "active"},
		{"unknown project", "GET", "/projects/nobody%2Fnothing/deploy_tokens", nil, 404, "Project"},
		{"traversal project", "GET", "/projects/..%2F..%2Fetc/deploy_tokens", nil, 404, "Project"},
		{"negative project", "GET", "/projects/-1/deploy_tokens", nil, 404, "Project"},
		{"duplicate path", "POST", "/projects", map[string]any{"path": "APP", "namespace_path": "Tanuki"}, 400, "path"},
		{"bad path", "POST", "/projects", map[string]any{"path": "a/b"}, 400, "path"},
		{"dot path", "POST", "/projects", map[string]any{"path": ".hidden"}, 400, "path"},
		{"git suffix", "POST", "/projects", map[string]any{"path": "x.git"}, 400, "path"},
		{"bad visibility", "POST", "/projects", map[string]any{"path": "v", "visibility": "secret"}, 400, "visibility"},
		{"bad namespace", "POST", "/projects", map[string]any{"path": "v", "namespace_path": "a//b"}, 400, "empty part"},
		{"reserved namespace", "POST", "/projects", map[string]any{"path": "v", "namespace_path": "api"}, 400, "reserved"},
		{"bad member level", "POST", "/projects/tanuki%2Fapp/members", map[string]any{"user_id": 1, "access_level": 35}, 400, "access_level"},
		{"member level text", "POST", "/projects/tanuki%2Fapp/members", map[string]any{"user_id": 1, "access_level": "high"}, 400, "access_level"},
		{"missing user_id", "POST", "/projects/tanuki%2Fapp/members", map[string]any{"access_level": 30}, 400, "user_id"},
		{"bad user", "POST", "/users", map[string]any{"username": "-x"}, 400, "username"},
		{"duplicate user", "POST", "/users", map[string]any{"username": "ROOT"}, 409, "username"},
		{"bad pat scopes", "POST", "/users/1/personal_access_tokens", map[string]any{"name": "x", "scopes": []string{"sudo"}}, 400, "scopes"},
		{"pat unknown user", "POST", "/users/999/personal_access_tokens", map[string]any{"name": "x", "scopes": []string{"api"}}, 404, "User"},
		{"form scopes", "POST", dt, url.Values{"name": {"f"}, "scopes": {"read_registry,nope"}}, 400, "scopes"},
		{"xml body", "POST", dt, nil, 415, "Content-Type"},
		{"dotdot path", "POST", "/projects", map[string]any{"path": "x..y", "namespace_path": "tanuki"}, 400, "'..'"},
		{"dotdot namespace", "POST", "/projects", map[string]any{"path": "v", "namespace_path": "a..b"}, 400, "'..'"},
		{"dotdot username", "POST", "/users", map[string]any{"username": "a..b"}, 400, "'..'"},
		{"git route as path", "POST", "/projects", map[string]any{"path": "git-upload-pack", "namespace_path": "tanuki"}, 400, "reserved"},
		{"info/refs as path", "POST", "/projects", map[string]any{"path": "refs", "namespace_path": "tanuki/app2/info"}, 400, "reserved"},
		{"doubly encoded project", "GET", "/projects/tanuki%252Fapp/deploy_tokens", nil, 404, "Project"},
		{"encoded token id", "GET", dt + "/%31%32%33%34%35", nil, 404, "Deploy Token"},
		{"signed token id", "DELETE", dt + "/+1", nil, 404, "Deploy Token"},
		{"negative token id", "DELETE", dt + "/-1", nil, 404, "Deploy Token"},
		{"zero-padded token id", "DELETE", dt + "/0001", nil, 404, "Deploy Token"},
		{"signed project id", "GET", "/projects/+1/deploy_tokens", nil, 404, "Project"},
		{"invalid UTF-8 in JSON", "POST", dt, "{\"name\":\"a\xff\",\"scopes\":[\"read_registry\"]}", 400, "UTF-8"},
		{"lone surrogate in JSON", "POST", dt, `{"name":"x\ud800y","scopes":["read_registry"]}`, 400, "UTF-8"},
		{"lone surrogate after an escaped ufffd", "POST", dt, `{"name":"x\\ufffd\ud800","scopes":["read_registry"]}`, 400, "UTF-8"},
		{"lone surrogate in a list", "POST", "/users/1/personal_access_tokens", `{"name":"x","scopes":["api\udc00"]}`, 400, "UTF-8"},
		{"bad query escape", "GET", dt + "?per_page=5%zz", nil, 400, "query string"},
		{"query semicolons", "GET", dt + "?page=1;per_page=1", nil, 400, "query string"},
		{"repeated query parameter", "GET", dt + "?active=true&active=bogus", nil, 400, "active"},
		{"repeated form field", "POST", "/users", url.Values{"username": {"carol"}, "admin": {"false", "true"}}, 400, "admin"},
		{"field in query and body", "POST", dt + "?name=q", map[string]any{"name": "b", "scopes": []string{"read_registry"}}, 400, "name"},
		{"list in query and form body", "POST", dt + "?scopes[]=read_registry", url.Values{"name": {"b"}, "scopes[]": {"read_repository"}}, 400, "scopes"},
		{"duplicate JSON key", "POST", dt, `{"name":"a","name":"b","scopes":["read_registry"]}`, 400, "name"},
		{"bidi override in name", "POST", dt, map[string]any{"name": "a\u202eb", "scopes": []string{"read_registry"}}, 400, "bidirectional"},
		{"negative user_id", "POST", "/projects/tanuki%2Fapp/members", map[string]any{"user_id": -5, "access_level": 30}, 400, "positive"},
		{"user_id past int64", "POST", "/projects/tanuki%2Fapp/members", `{"user_id":99999999999999999999,"access_level":30}`, 400, "out of range"},
		{"user_id past int64 then not a number", "POST", "/projects/tanuki%2Fapp/members", `{"user_id":"99999999999999999999x","access_level":30}`, 400, "integer"},
		{"unknown route", "GET", "/nothing", nil, 404, "Not Found"},
	}
	countTokens := func() int {
		ts, err := s.app.store.ListAllDeployTokens(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(ts)
	}
	before := countTokens()
	projects, _ := s.app.store.ListProjects(t.Context())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r apiResponse
			if tt.name == "xml body" {
				req, _ := http.NewRequest("POST", s.URL+"/api/v4"+tt.path, strings.NewReader("<x/>"))
				req.Header.Set("Content-Type", "application/xml")
				req.Header.Set("PRIVATE-TOKEN", s.AdminToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				r = s.api(t, "POST", tt.path, s.AdminToken, "x") // JSON decode error path as well
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d", resp.StatusCode)
				}
				return
			}
			r = s.api(t, tt.method, tt.path, s.AdminToken, tt.body)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if !strings.Contains(r.message(), tt.mentions) {
				t.Fatalf("message %q does not mention %q", r.message(), tt.mentions)
			}
		})
	}
	// Bodies the server would misread: refused, naming the header.
	const create = `{"name":"ct","scopes":["read_registry"]}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(create))
	zw.Close()
	for _, tc := range []struct {
		name     string
		header   http.Header
		body     string
		status   int
		mentions string
	}{
		{"unparsable Content-Type", http.Header{"Content-Type": {";;;"}}, create, 400, "Content-Type"},
		{"charset without value", http.Header{"Content-Type": {"application/json; charset"}}, create, 400, "Content-Type"},
		{"two Content-Types", http.Header{"Content-Type": {"application/json", "text/plain"}}, create, 400, "Content-Type"},
		{"UTF-16", http.Header{"Content-Type": {"application/json; charset=utf-16"}}, create, 415, "charset"},
		{"gzip", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, gz.String(), 415, "Content-Encoding"},
		{"br on a plain body", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"identity, br"}}, create, 415, "br"},
		{"form with a bad escape", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "name=ct&scopes=read_registry&x=%zz", 400, "%zz"},
		{"form separated by ';'", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "name=ct;scopes=read_registry", 400, "'&'"},
	} {
		req, _ := http.NewRequest("POST", s.URL+"/api/v4"+dt, strings.NewReader(tc.body))
		maps.Copy(req.Header, tc.header)
		req.Header.Set("PRIVATE-TOKEN", s.AdminToken)
		if r := do(t, req); r.Status != tc.status || !strings.Contains(r.message(), tc.mentions) {
			t.Errorf("%s: %d %s; want %d naming %q", tc.name, r.Status, r.Body, tc.status, tc.mentions)
		}
	}
	for _, cs := range []string{"UTF-8", "us-ascii"} {
		req, _ := http.NewRequest("POST", s.URL+"/api/v4"+dt, strings.NewReader(`{"name":"`+cs+`","scopes":["read_registry"]}`))
		req.Header.Set("Content-Type", "application/json; charset="+cs)
		req.Header.Set("Content-Encoding", "identity")
		req.Header.Set("PRIVATE-TOKEN", s.AdminToken)
		if r := do(t, req); r.Status != 201 {
			t.Errorf("charset=%s, identity encoding: %d %s", cs, r.Status, r.Body)
		}
		before++
	}
	if after := countTokens(); after != before {
		t.Errorf("bad input changed the store: %d tokens, was %d", after, before)
	}
	if u, err := s.app.store.UserByUsername(t.Context(), "carol"); err == nil {
		t.Errorf("a form with admin given twice created user %+v", u)
	}
	if after, _ := s.app.store.ListProjects(t.Context()); len(after) != len(projects) {
		t.Errorf("bad input created projects: %d, was %d", len(after), len(projects))
	}
}

func TestPagination(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "")
	for i := range 25 {
		s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": fmt.Sprint("t", i), "scopes": "read_registry"})
	}
	var page []deployTokenInfo
	r := s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fapp/deploy_tokens?per_page=10&page=2", s.AdminToken, nil, &page)
	h := r.Header
	if len(page) != 10 || page[0].Name != "t10" || h.Get("X-Total") != "25" || h.Get("X-Page") != "2" ||
		h.Get("X-Per-Page") != "10" || h.Get("X-Next-Page") != "3" || h.Get("X-Prev-Page") != "1" ||
		!strings.Contains(h.Get("Link"), `<http://`+s.Host+`/api/v4/projects/tanuki%2Fapp/deploy_tokens?page=3&per_page=10>; rel="next"`) {
		t.Fatalf("page 2: %d items, headers %v", len(page), h)
	}
	r = s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fapp/deploy_tokens?per_page=1000", s.AdminToken, nil, &page)
	if len(page) != 25 || r.Header.Get("X-Per-Page") != "100" || r.Header.Get("X-Next-Page") != "" {
		t.Fatalf("per_page capped: %d %v", len(page), r.Header)
	}
	s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fapp/deploy_tokens", s.AdminToken, nil, &page)
	if len(page) != 20 {
		t.Fatalf("default page: %d", len(page))
	}
}

// TestGitLabClient drives the deploy-token endpoints with GitLab's own Go
// client.
func TestGitLabClient(t *testing.T) {
	s := startServer(t, nil)
	p := s.project(t, s.AdminToken, "tanuki/awesome_project", "")
	gl, err := gitlab.NewClient(s.AdminToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2099, 3, 4, 0, 0, 0, 0, time.UTC)
	created, _, err := gl.DeployTokens.CreateProjectDeployToken("tanuki/awesome_project", &gitlab.CreateProjectDeployTokenOptions{
		Name: gitlab.Ptr("ci"), ExpiresAt: &exp, Username: gitlab.Ptr("custom-user"), Scopes: &[]string{"read_repository", "read_registry"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.remember(created.Token)
	if created.Username != "custom-user" || created.Token == "" || created.ExpiresAt == nil || !created.ExpiresAt.Equal(exp) || len(created.Scopes) != 2 {
		t.Fatalf("created %+v", created)
	}
	list, resp, err := gl.DeployTokens.ListProjectDeployTokens(p.ID, &gitlab.ListProjectDeployTokensOptions{})
	if err != nil || len(list) != 1 || list[0].Token != "" || resp.TotalItems != 1 {
		t.Fatalf("list %+v %v", list, err)
	}
	got, _, err := gl.DeployTokens.GetProjectDeployToken(p.ID, created.ID)
	if err != nil || got.Name != "ci" || got.Revoked {
		t.Fatalf("get %+v %v", got, err)
	}
	if _, err := gl.DeployTokens.DeleteProjectDeployToken(p.ID, created.ID); err != nil {
		t.Fatal(err)
	}
	got, _, err = gl.DeployTokens.GetProjectDeployToken(p.ID, created.ID)
	if err != nil || !got.Revoked {
		t.Fatalf("after delete %+v %v", got, err)
	}
	all, _, err := gl.DeployTokens.ListAllDeployTokens()
	if err != nil || len(all) != 1 {
		t.Fatalf("all %+v %v", all, err)
	}
	proj, _, err := gl.Projects.GetProject("tanuki/awesome_project", nil)
	if err != nil || proj.ID != p.ID || proj.PathWithNamespace != "tanuki/awesome_project" {
		t.Fatalf("project %+v %v", proj, err)
	}
}

// TestConcurrentCreate races creators of one project path through the API:
// exactly one wins.
func TestConcurrentCreate(t *testing.T) {
	s := startServer(t, nil)
	var wg sync.WaitGroup
	statuses := make(chan int, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "Race"
			if i%2 == 0 {
				path = "race"
			}
			statuses <- s.api(t, "POST", "/projects", s.AdminToken, map[string]any{"path": path, "namespace_path": "team"}).Status
		}()
	}
	wg.Wait()
	close(statuses)
	won := 0
	for st := range statuses {
		switch st {
		case 201:
			won++
		case 400:
		default:
			t.Errorf("status %d", st)
		}
	}
	if won != 1 {
		t.Fatalf("%d creators won", won)
	}
}

// TestConcurrentNestedCreate races a project against one inside its path
// through the API: exactly one of the two exists afterwards, the other is
// refused as nested.
func TestConcurrentNestedCreate(t *testing.T) {
	s := startServer(t, nil)
	for i := range 10 {
		outer := map[string]any{"path": "p", "namespace_path": fmt.Sprintf("race%d", i)}
		inner := map[string]any{"path": "q", "namespace_path": fmt.Sprintf("race%d/p", i)}
		var a, b apiResponse
		var wg sync.WaitGroup
		wg.Go(func() { a = s.api(t, "POST", "/projects", s.AdminToken, outer) })
		wg.Go(func() { b = s.api(t, "POST", "/projects", s.AdminToken, inner) })
		wg.Wait()
		if (a.Status == 201) == (b.Status == 201) {
			t.Fatalf("race%d/p and race%d/p/q: %d %s and %d %s; want exactly one created", i, i, a.Status, a.Body, b.Status, b.Body)
		}
		for _, r := range []apiResponse{a, b} {
			if r.Status != 201 && (r.Status != 400 || !strings.Contains(r.message(), "nested")) {
				t.Errorf("the loser: %d %s, want 400 naming the nesting", r.Status, r.Body)
			}
		}
	}
}

// TestNamespaces: nobody creates projects in another's namespace or inside
// another project's path, where they would take over its images.
func TestNamespaces(t *testing.T) {
	s := startServer(t, nil)
	_, alice := s.user(t, "alice")
	_, mallory := s.user(t, "mallory")
	s.project(t, alice, "tanuki/app", "private")
	tests := []struct {
		name, who, ns, path string
		status              int
	}{
		{"own namespace", "mallory", "", "mine", 201},
		{"free group", "mallory", "newgroup", "x", 201},
		{"another user's namespace", "mallory", "alice", "x", 403},
		{"a group with others' projects", "mallory", "tanuki", "other", 403},
		// Forbidden like the free path beside it: authorization comes
		// first, so the answer does not tell a private project is there.
		{"inside another's project", "mallory", "tanuki/app", "web", 403},
		{"owner nests inside own project", "alice", "tanuki/app", "web", 400},
		{"owner adds to own group", "alice", "tanuki", "second", 201},
		{"too long", "alice", "tanuki", strings.Repeat("a", 252), 400},
	}
	tok := map[string]string{"alice": alice, "mallory": mallory}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.api(t, "POST", "/projects", tok[tt.who], map[string]any{"path": tt.path, "namespace_path": tt.ns})
			if r.Status != tt.status {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if r.Status == 400 && strings.Contains(r.message(), "tanuki/app") && tt.who == "mallory" {
				t.Fatalf("a non-member learns the private project's path: %s", r.Body)
			}
		})
	}
}

// TestAdminTokenReplaced: a new admin token ends the old one at once.
func TestAdminTokenReplaced(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, func(c *Config) { c.DataDir = dir })
	old := first.AdminToken
	first.mustAPI(t, 200, "GET", "/user", old, nil, nil)
	first.shutdown(t)
	second := startServer(t, func(c *Config) { c.DataDir = dir })
	if second.AdminToken == old {
		t.Fatal("same token")
	}
	second.mustAPI(t, 200, "GET", "/user", second.AdminToken, nil, nil)
	if r := second.api(t, "GET", "/user", old, nil); r.Status != 401 {
		t.Fatalf("old admin token: %d", r.Status)
	}
}

func TestMethods(t *testing.T) {
	s := startServer(t, nil)
	head := func(path, token string) apiResponse {
		req, _ := http.NewRequest("HEAD", s.URL+path, nil)
		if token != "" {
			req.Header.Set("PRIVATE-TOKEN", token)
		}
		return do(t, req)
	}
	// HEAD is routed like the GET (net/http drops the body).
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/-/health", "", 200},
		{"/-/readiness", "", 200},
		{"/api/v4/user", s.AdminToken, 200},
		{"/api/v4/user", "", 401},
		{"/api/v4/projects/nobody%2Fnothing", s.AdminToken, 404},
	} {
		if r := head(tc.path, tc.token); r.Status != tc.status {
			t.Errorf("HEAD %s: %d, want %d", tc.path, r.Status, tc.status)
		}
	}
	if r := head("/api/v4/user", s.AdminToken); !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("HEAD /api/v4/user: Content-Type %q, not the GET's", r.Header.Get("Content-Type"))
	}
	// Arrays may repeat, as GitLab's clients send them.
	if r := s.api(t, "GET", "/projects?user_ids[]=1&user_ids[]=2", s.AdminToken, nil); r.Status != 200 {
		t.Errorf("repeated array parameter: %d %s", r.Status, r.Body)
	}
	// A path that exists, asked with a method it does not take, is a 405
	// saying which it takes; a path that does not exist stays a 404.
	s.project(t, s.AdminToken, "tanuki/app", "private")
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"PATCH", "/api/v4/projects/tanuki%2Fapp", 405, "GET, HEAD, PUT, DELETE"},
		{"PUT", "/api/v4/user", 405, "GET, HEAD"},
		{"DELETE", "/api/v4/projects", 405, "GET, HEAD, POST"},
		{"POST", "/-/health", 405, "GET, HEAD"},
		{"PUT", "/-/jwks", 405, "GET, HEAD"},
		{"PATCH", "/api/v4/nothing", 404, ""},
	} {
		req, _ := http.NewRequest(tc.method, s.URL+tc.path, nil)
		req.Header.Set("PRIVATE-TOKEN", s.AdminToken)
		if r := do(t, req); r.Status != tc.status || r.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q; want %d, %q", tc.method, tc.path, r.Status, r.Header.Get("Allow"), tc.status, tc.allow)
		}
	}
	// The token endpoint answers GET and POST, and says so.
	for _, m := range []string{"HEAD", "PUT", "DELETE", "OPTIONS", "PROPFIND", "CONNECT"} {
		req, _ := http.NewRequest(m, s.URL+"/jwt/auth?service="+s.cfg.RegistryService, nil)
		r := do(t, req)
		if r.Status != 405 || r.Header.Get("Allow") != "GET, POST" {
			t.Errorf("%s /jwt/auth: %d, Allow %q", m, r.Status, r.Header.Get("Allow"))
		}
		if m != "HEAD" && !strings.Contains(string(r.Body), `"code":"UNSUPPORTED"`) {
			t.Errorf("%s /jwt/auth: body %s", m, r.Body)
		}
	}
}

// TestRevokePersonalAccessTokens: GitLab's PAT endpoints. A user sees and
// revokes their own tokens (by id or "self"), an admin anyone's; to other
// users a token does not exist. A revoked token is refused by the API,
// /jwt/auth and git at once, on both stores.
func TestRevokePersonalAccessTokens(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			s := startServer(t, st.mod)
			type patInfo struct {
				ID      int64  `json:"id"`
				UserID  int64  `json:"user_id"`
				Revoked bool   `json:"revoked"`
				Active  bool   `json:"active"`
				Token   string `json:"token"`
			}
			aliceID, alice := s.user(t, "alice")
			_, bob := s.user(t, "bob")
			var self patInfo
			s.mustAPI(t, 200, "GET", "/personal_access_tokens/self", alice, nil, &self)
			if self.UserID != aliceID || self.ID == 0 || !self.Active || self.Token != "" {
				t.Fatalf("self = %+v", self)
			}
			// Another user's token does not exist for bob.
			for _, m := range []string{"GET", "DELETE"} {
				if r := s.api(t, m, fmt.Sprintf("/personal_access_tokens/%d", self.ID), bob, nil); r.Status != 404 {
					t.Errorf("%s alice's token as bob: %d %s", m, r.Status, r.Body)
				}
			}
			if r := s.api(t, "GET", "/user", alice, nil); r.Status != 200 {
				t.Fatalf("alice after bob's attempts: %d", r.Status)
			}
			s.mustAPI(t, 204, "DELETE", "/personal_access_tokens/self", alice, nil, nil)
			if r := s.api(t, "GET", "/user", alice, nil); r.Status != 401 {
				t.Errorf("revoked token on the API: %d", r.Status)
			}
			req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?service="+s.cfg.RegistryService, nil)
			req.SetBasicAuth("alice", alice)
			if r := do(t, req); r.Status != 401 {
				t.Errorf("revoked token on /jwt/auth: %d %s", r.Status, r.Body)
			}
			var got patInfo
			s.mustAPI(t, 200, "GET", fmt.Sprintf("/personal_access_tokens/%d", self.ID), s.AdminToken, nil, &got)
			if !got.Revoked || got.Active {
				t.Errorf("after revoke: %+v", got)
			}
			// An admin revokes anyone's token by id; revoking it again is
			// not an error, as for deploy tokens.
			var bobSelf patInfo
			s.mustAPI(t, 200, "GET", "/personal_access_tokens/self", bob, nil, &bobSelf)
			for range 2 {
				s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/personal_access_tokens/%d", bobSelf.ID), s.AdminToken, nil, nil)
			}
			if r := s.api(t, "GET", "/user", bob, nil); r.Status != 401 {
				t.Errorf("bob's revoked token: %d", r.Status)
			}
			// The admin token is configuration.
			if r := s.api(t, "DELETE", "/personal_access_tokens/self", s.AdminToken, nil); r.Status != 400 || !strings.Contains(r.message(), "DEPLOYTOKENS_ADMIN_TOKEN") {
				t.Errorf("revoke the admin token: %d %s", r.Status, r.Body)
			}
			for path, want := range map[string]int{"/personal_access_tokens/999999": 404, "/personal_access_tokens/x": 400, "/personal_access_tokens/0": 404} {
				if r := s.api(t, "DELETE", path, s.AdminToken, nil); r.Status != want {
					t.Errorf("DELETE %s: %d, want %d", path, r.Status, want)
				}
			}
			// read_api may look, not revoke.
			_, reader := s.user(t, "carol", "read_api")
			if r := s.api(t, "DELETE", "/personal_access_tokens/self", reader, nil); r.Status != 403 {
				t.Errorf("revoke with read_api: %d %s", r.Status, r.Body)
			}
		})
	}
}

// TestTrailingSlash: an API path with a trailing slash is the same path,
// as in GitLab (whose docs post to ".../deploy_tokens/"), encoded project
// paths included.
func TestTrailingSlash(t *testing.T) {
	s := startServer(t, nil)
	p := s.project(t, s.AdminToken, "tanuki/app", "")
	r := s.api(t, "POST", "/projects/tanuki%2Fapp/deploy_tokens/", s.AdminToken, map[string]any{"name": "slash", "scopes": []string{"read_registry"}})
	s.remember(tokenOf(t, r))
	if r.Status != 201 {
		t.Fatalf("POST with a trailing slash: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{
		"/projects/tanuki%2Fapp/deploy_tokens/",
		fmt.Sprintf("/projects/%d/deploy_tokens/", p.ID),
		"/projects/tanuki%2Fapp/",
		"/user/",
	} {
		if r := s.api(t, "GET", path, s.AdminToken, nil); r.Status != 200 {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	for _, path := range []string{"/projects/tanuki%2Fapp/deploy_tokens//", "/"} {
		if r := s.api(t, "GET", path, s.AdminToken, nil); r.Status != 404 {
			t.Errorf("GET %s: %d, want 404", path, r.Status)
		}
	}
}

// TestMultipartBody: fields sent as multipart/form-data (curl --form, as in
// many of GitLab's examples) count like a form's; file parts and broken
// bodies are refused, and change nothing.
func TestMultipartBody(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "")
	post := func(fields [][2]string, file bool, ctype string) apiResponse {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for _, f := range fields {
			_ = w.WriteField(f[0], f[1])
		}
		if file {
			fw, _ := w.CreateFormFile("name", "name.txt")
			_, _ = fw.Write([]byte("from a file"))
		}
		_ = w.Close()
		if ctype == "" {
			ctype = w.FormDataContentType()
		}
		req, _ := http.NewRequest("POST", s.URL+"/api/v4/projects/tanuki%2Fapp/deploy_tokens", &buf)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("PRIVATE-TOKEN", s.AdminToken)
		return do(t, req)
	}
	r := post([][2]string{{"name", "multi"}, {"scopes[]", "read_registry"}, {"scopes[]", "read_repository"}}, false, "")
	if r.Status != 201 {
		t.Fatalf("multipart create: %d %s", r.Status, r.Body)
	}
	s.remember(tokenOf(t, r))
	var got struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil || got.Name != "multi" || len(got.Scopes) != 2 {
		t.Errorf("multipart create answered %s", r.Body)
	}
	for _, tc := range []struct {
		name     string
		fields   [][2]string
		file     bool
		ctype    string
		mentions string
	}{
		{"file part", [][2]string{{"scopes", "read_registry"}}, true, "", "file"},
		{"no boundary", [][2]string{{"name", "x"}, {"scopes", "read_registry"}}, false, "multipart/form-data", "multipart"},
		{"name twice", [][2]string{{"name", "a"}, {"name", "b"}, {"scopes", "read_registry"}}, false, "", "name"},
	} {
		if r := post(tc.fields, tc.file, tc.ctype); r.Status != 400 || !strings.Contains(r.message(), tc.mentions) {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Body)
		}
	}
	// Go's reader stops at 1000 parts: the answer says so.
	many := [][2]string{{"name", "many"}, {"scopes", "read_registry"}}
	for i := range 1000 {
		many = append(many, [2]string{fmt.Sprintf("x%d", i), "y"})
	}
	if r := post(many, false, ""); r.Status != 413 || !strings.Contains(r.message(), "1000 parts") {
		t.Errorf("1002 parts: %d %s", r.Status, r.Body)
	}
	if ts, err := s.app.store.ListAllDeployTokens(t.Context()); err != nil || len(ts) != 1 {
		t.Errorf("%d tokens after the refused bodies, want 1 (%v)", len(ts), err)
	}
}

func TestCredentialHeaders(t *testing.T) {
	s := startServer(t, nil)
	get := func(h http.Header) apiResponse {
		req, _ := http.NewRequest("GET", s.URL+"/api/v4/user", nil)
		req.Header = h
		return do(t, req)
	}
	for name, h := range map[string]http.Header{
		"two PRIVATE-TOKENs":         {"Private-Token": {s.AdminToken, "dtp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},
		"PRIVATE-TOKEN and a Bearer": {"Private-Token": {s.AdminToken}, "Authorization": {"Bearer dtp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},
		"two Bearers":                {"Authorization": {"Bearer " + s.AdminToken, "Bearer dtp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},
	} {
		if r := get(h); r.Status != 400 || !strings.Contains(r.message(), "one credential") {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	if r := get(http.Header{"Authorization": {"Bearer " + s.AdminToken}}); r.Status != 200 {
		t.Fatalf("one Bearer: %d %s", r.Status, r.Body)
	}
	// A Basic header is not an API credential: python-gitlab sends one
	// with http_username, and so does a proxy with basic auth in front.
	if r := get(http.Header{"Private-Token": {s.AdminToken}, "Authorization": {"Basic eDp5"}}); r.Status != 200 {
		t.Fatalf("PRIVATE-TOKEN and a proxy's Basic: %d %s", r.Status, r.Body)
	}
	// Basic credentials twice, on the token endpoint: which counts would
	// be a guess, so the request is refused as malformed.
	req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?service="+s.cfg.RegistryService, nil)
	req.Header["Authorization"] = []string{"Basic eDp5", "Basic eDp6"}
	if r := do(t, req); r.Status != 400 || !strings.Contains(string(r.Body), "more than one Authorization header") {
		t.Errorf("two Basic headers: %d %s", r.Status, r.Body)
	}
	// A new secret is never kept by a cache.
	s.project(t, s.AdminToken, "tanuki/app", "")
	r := s.api(t, "POST", "/projects/tanuki%2Fapp/deploy_tokens", s.AdminToken, map[string]any{"name": "n", "scopes": []string{"read_registry"}})
	s.remember(tokenOf(t, r))
	if r.Status != 201 || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("create deploy token: %d, Cache-Control %q", r.Status, r.Header.Get("Cache-Control"))
	}
	r = s.api(t, "POST", "/users/1/personal_access_tokens", s.AdminToken, map[string]any{"name": "n", "scopes": []string{"api"}})
	s.remember(tokenOf(t, r))
	if r.Status != 201 || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("create PAT: %d, Cache-Control %q", r.Status, r.Header.Get("Cache-Control"))
	}
}

func tokenOf(t *testing.T, r apiResponse) string {
	var v struct{ Token string }
	r.json(t, &v)
	return v.Token
}

// TestRequestID: a client's X-Request-Id is kept as Rails keeps it (letters,
// digits, '_', '-', '@', at most 255), and one with nothing left is replaced;
// the answer and the log carry what was kept, and a huge path is cut short
// in the log.
func TestRequestID(t *testing.T) {
	s := startServer(t, nil)
	get := func(path, id string) string {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		return do(t, req).Header.Get("X-Request-Id")
	}
	if got := get("/-/health", "trace-1_a@B"); got != "trace-1_a@B" {
		t.Errorf("a plain ID came back as %q", got)
	}
	long := "a b<c>\"d" + strings.Repeat("z", 300)
	want := "abcd" + strings.Repeat("z", 251)
	if got := get("/-/health", long); got != want {
		t.Errorf("a long ID with other characters came back as %q (%d bytes), want %d bytes", got, len(got), len(want))
	}
	if got := get("/-/health", "<\"'>"); len(got) != 32 || strings.ContainsAny(got, "<\"'>") {
		t.Errorf("an ID with nothing to keep came back as %q, want a generated one", got)
	}
	path := "/nothing/" + strings.Repeat("p", 100<<10)
	get(path, "")
	if logs := s.logs.String(); strings.Contains(logs, "<c>") || strings.Contains(logs, strings.Repeat("z", 256)) {
		t.Errorf("the log holds the client's raw request ID")
	} else if strings.Contains(logs, strings.Repeat("p", 2000)) || !strings.Contains(logs, fmt.Sprintf("(%d bytes)", len(path))) {
		t.Errorf("the log does not cut the %d-byte path short", len(path))
	}
}

// TestRevokeTwice: revoking a revoked token answers as the first time did,
// and the log records one revocation, by whoever made it.
func TestRevokeTwice(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "r", "scopes": []string{"read_registry"}})
	ref := fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", d.ID)
	var pat struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	s.mustAPI(t, 201, "POST", "/users/1/personal_access_tokens", s.AdminToken, map[string]any{"name": "p", "scopes": []string{"api"}}, &pat)
	s.remember(pat.Token)
	for range 2 {
		s.mustAPI(t, 204, "DELETE", ref, s.AdminToken, nil, nil)
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/personal_access_tokens/%d", pat.ID), s.AdminToken, nil, nil)
	}
	logs := s.logs.String()
	if n := strings.Count(logs, "msg=\"deploy token revoked\""); n != 1 {
		t.Errorf("%d deploy token revocations logged, want 1", n)
	}
	if n := strings.Count(logs, "msg=\"personal access token revoked\""); n != 1 {
		t.Errorf("%d PAT revocations logged, want 1", n)
	}
}

package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/deploytokens/deploytokens/tokens"
)

// groupAt creates the group fullPath (its parent first, when it has one,
// already there) through the API as token, and answers it.
func (s *testServer) groupAt(t *testing.T, token, fullPath string) groupInfo {
	t.Helper()
	var parent int64
	if i := strings.LastIndexByte(fullPath, '/'); i > 0 {
		var p groupInfo
		s.mustAPI(t, 200, "GET", "/groups/"+url.PathEscape(fullPath[:i]), token, nil, &p)
		parent = p.ID
	}
	return s.group(t, token, fullPath[strings.LastIndexByte(fullPath, '/')+1:], parent, "private")
}

// groupDeployToken creates a deploy token in the group ref through the
// API.
func (s *testServer) groupDeployToken(t *testing.T, token, ref string, body map[string]any) deployTokenInfo {
	t.Helper()
	var d deployTokenInfo
	s.mustAPI(t, 201, "POST", "/groups/"+url.PathEscape(ref)+"/deploy_tokens", token, body, &d)
	s.remember(d.Token)
	return d
}

// TestGroupDeployTokensGitLabClient drives the group deploy-token
// endpoints with GitLab's own Go client, as Terraform's gitlab_deploy_token
// with group does.
func TestGroupDeployTokensGitLabClient(t *testing.T) {
	s := startServer(t, redisConfig(t))
	_, alice := s.user(t, "alice")
	corp := s.groupAt(t, alice, "corp")
	s.groupAt(t, alice, "corp/team")
	p := s.project(t, s.AdminToken, "tanuki/app", "")
	s.deployToken(t, s.AdminToken, p.PathWithNamespace, map[string]any{"name": "project token", "scopes": []string{"read_registry"}})

	gl, err := gitlab.NewClient(alice, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2099, 3, 4, 0, 0, 0, 0, time.UTC)
	created, resp, err := gl.DeployTokens.CreateGroupDeployToken("corp", &gitlab.CreateGroupDeployTokenOptions{
		Name: gitlab.Ptr("cluster"), ExpiresAt: &exp, Username: gitlab.Ptr("cluster-puller"), Scopes: &[]string{"read_registry", "read_repository"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.remember(created.Token)
	if created.Username != "cluster-puller" || !strings.HasPrefix(created.Token, string(tokens.DeployTokenSecret)) || created.ExpiresAt == nil || !created.ExpiresAt.Equal(exp) || len(created.Scopes) != 2 {
		t.Fatalf("created %+v", created)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on the answer with the secret", cc)
	}
	// By numeric id, and from a subgroup's maintainer's point of view the
	// parent's tokens are not the subgroup's.
	list, resp, err := gl.DeployTokens.ListGroupDeployTokens(corp.ID, &gitlab.ListGroupDeployTokensOptions{})
	if err != nil || len(list) != 1 || list[0].Token != "" || list[0].ID != created.ID || resp.TotalItems != 1 {
		t.Fatalf("list %+v %v", list, err)
	}
	if sub, _, err := gl.DeployTokens.ListGroupDeployTokens("corp/team", &gitlab.ListGroupDeployTokensOptions{}); err != nil || len(sub) != 0 {
		t.Fatalf("subgroup's list %+v %v", sub, err)
	}
	got, _, err := gl.DeployTokens.GetGroupDeployToken("corp", created.ID)
	if err != nil || got.Name != "cluster" || got.Revoked || got.Expired || got.Token != "" {
		t.Fatalf("get %+v %v", got, err)
	}
	if _, err := gl.DeployTokens.DeleteGroupDeployToken("corp", created.ID); err != nil {
		t.Fatal(err)
	}
	got, _, err = gl.DeployTokens.GetGroupDeployToken("corp", created.ID)
	if err != nil || !got.Revoked {
		t.Fatalf("after delete %+v %v", got, err)
	}

	// GET /deploy_tokens (admin) lists both kinds.
	admin, err := gitlab.NewClient(s.AdminToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := admin.DeployTokens.ListAllDeployTokens()
	if err != nil || len(all) != 2 {
		t.Fatalf("all %+v %v", all, err)
	}
	names := []string{all[0].Name, all[1].Name}
	if names[0] != "project token" || names[1] != "cluster" {
		t.Errorf("all deploy tokens %q, want the project's and the group's", names)
	}
}

// TestGroupDeployTokensAPI: who may manage a group's tokens, and bad
// input answered 4xx naming the field with nothing stored.
func TestGroupDeployTokensAPI(t *testing.T) {
	s := startServer(t, redisConfig(t))
	_, owner := s.user(t, "owner")
	maintID, maint := s.user(t, "maint")
	devID, dev := s.user(t, "dev")
	_, outsider := s.user(t, "outsider")
	_, readOnly := s.user(t, "reader", "read_api")
	corp := s.groupAt(t, owner, "corp")
	team := s.groupAt(t, owner, "corp/team")
	s.groupMember(t, owner, corp.FullPath, maintID, int(tokens.Maintainer))
	s.groupMember(t, owner, corp.FullPath, devID, int(tokens.Developer))
	_ = team
	good := map[string]any{"name": "t", "scopes": []string{"read_registry"}}

	tests := []struct {
		name    string
		token   string
		method  string
		path    string
		body    any
		status  int
		message string
	}{
		{"owner creates", owner, "POST", "/groups/corp/deploy_tokens", good, 201, ""},
		{"maintainer creates", maint, "POST", "/groups/corp/deploy_tokens", good, 201, ""},
		{"inherited maintainer creates in a subgroup", maint, "POST", "/groups/corp%2Fteam/deploy_tokens", good, 201, ""},
		{"by id", owner, "POST", fmt.Sprintf("/groups/%d/deploy_tokens", corp.ID), good, 201, ""},
		{"developer may not", dev, "POST", "/groups/corp/deploy_tokens", good, 403, "403 Forbidden"},
		{"developer may not list", dev, "GET", "/groups/corp/deploy_tokens", nil, 403, "403 Forbidden"},
		{"outsider sees no group", outsider, "POST", "/groups/corp/deploy_tokens", good, 404, "404 Group Not Found"},
		{"outsider lists no group", outsider, "GET", "/groups/corp/deploy_tokens", nil, 404, "404 Group Not Found"},
		{"read_api may not write", readOnly, "POST", "/groups/corp/deploy_tokens", good, 403, ""},
		{"unknown group", owner, "POST", "/groups/nope/deploy_tokens", good, 404, "404 Group Not Found"},
		{"unknown token", owner, "GET", "/groups/corp/deploy_tokens/999", nil, 404, "404 Deploy Token Not Found"},
		{"token id not a number", owner, "GET", "/groups/corp/deploy_tokens/abc", nil, 400, "token_id"},
		{"no scopes", owner, "POST", "/groups/corp/deploy_tokens", map[string]any{"name": "t"}, 400, "scopes"},
		{"a PAT scope", owner, "POST", "/groups/corp/deploy_tokens", map[string]any{"name": "t", "scopes": []string{"api"}}, 400, "scopes"},
		{"no name", owner, "POST", "/groups/corp/deploy_tokens", map[string]any{"scopes": []string{"read_registry"}}, 400, "name"},
		{"expiry in the past", owner, "POST", "/groups/corp/deploy_tokens", map[string]any{"name": "t", "scopes": []string{"read_registry"}, "expires_at": "2001-01-01"}, 400, "expires_at"},
		{"bad username", owner, "POST", "/groups/corp/deploy_tokens", map[string]any{"name": "t", "scopes": []string{"read_registry"}, "username": "a b"}, 400, "username"},
	}
	created := map[string]int{} // group path -> tokens created by the table
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.api(t, tt.method, tt.path, tt.token, tt.body)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if !strings.Contains(r.message(), tt.message) {
				t.Errorf("message %q, want it to hold %q", r.message(), tt.message)
			}
			if r.Status == 201 {
				var d deployTokenInfo
				r.json(t, &d)
				s.remember(d.Token)
				if d.Token == "" || d.Username != tokens.DefaultDeployTokenUsername(d.ID) {
					t.Errorf("created %+v", d)
				}
				created[strings.SplitN(strings.TrimPrefix(tt.path, "/groups/"), "/", 2)[0]]++
			}
		})
	}
	// Refused creates stored nothing: corp holds the three the table
	// made, by path and by id.
	var list []deployTokenInfo
	s.mustAPI(t, 200, "GET", "/groups/corp/deploy_tokens", owner, nil, &list)
	if want := created["corp"] + created[fmt.Sprint(corp.ID)]; len(list) != want {
		t.Errorf("corp has %d tokens, want %d", len(list), want)
	}
	// Revoking: 204, again 204, and the token is listed revoked; only
	// active ones with ?active=true.
	id := list[0].ID
	for range 2 {
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/groups/corp/deploy_tokens/%d", id), maint, nil, nil)
	}
	var active []deployTokenInfo
	s.mustAPI(t, 200, "GET", "/groups/corp/deploy_tokens?active=true", owner, nil, &active)
	if len(active) != len(list)-1 {
		t.Errorf("%d active after one revoke of %d", len(active), len(list))
	}
	// A group's token is not reachable through another group.
	s.mustAPI(t, 404, "GET", fmt.Sprintf("/groups/corp%%2Fteam/deploy_tokens/%d", id), owner, nil, nil)
}

// TestGroupCIVariables: a project without its own gitlab-deploy-token
// gets the nearest group's, its grandparent's included.
func TestGroupCIVariables(t *testing.T) {
	s := startServer(t, redisConfig(t))
	ownerID, owner := s.user(t, "owner")
	s.groupAt(t, owner, "corp")
	s.groupAt(t, owner, "corp/team")
	s.project(t, s.AdminToken, "corp/team/app", "private")
	s.mustAPI(t, 201, "POST", "/projects/corp%2Fteam%2Fapp/members", s.AdminToken, map[string]any{"user_id": ownerID, "access_level": 40}, nil)
	ci := s.groupDeployToken(t, owner, "corp", map[string]any{"name": tokens.CITokenName, "scopes": []string{"read_registry"}})
	var vars []tokens.CIVariable
	r := s.mustAPI(t, 200, "GET", "/projects/corp%2Fteam%2Fapp/ci/variables", owner, nil, &vars)
	got := map[string]string{}
	for _, v := range vars {
		got[v.Key] = v.Value
	}
	if got["CI_DEPLOY_USER"] != ci.Username || got["CI_DEPLOY_PASSWORD"] != ci.Token {
		t.Errorf("CI_DEPLOY_USER %q, want the group's %q (password given: %v)", got["CI_DEPLOY_USER"], ci.Username, got["CI_DEPLOY_PASSWORD"] != "")
	}
	if w := r.Header.Get("X-Deploy-Token-Warning"); w != "" {
		t.Errorf("warning %q with a group token", w)
	}
}

package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

type groupInfo struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	Path       string `json:"path"`
	FullPath   string `json:"full_path"`
	FullName   string `json:"full_name"`
	ParentID   *int64 `json:"parent_id"`
	Visibility string `json:"visibility"`
	WebURL     string `json:"web_url"`
}

// group creates a group (parent 0: at the top level) as token.
func (s *testServer) group(t *testing.T, token, path string, parent int64, visibility string) groupInfo {
	t.Helper()
	body := map[string]any{"name": "Name of " + path, "path": path, "visibility": visibility}
	if parent != 0 {
		body["parent_id"] = parent
	}
	var g groupInfo
	s.mustAPI(t, 201, "POST", "/groups", token, body, &g)
	return g
}

// groupMember makes userID a member of group at level, as token.
func (s *testServer) groupMember(t *testing.T, token, group string, userID int64, level int) {
	t.Helper()
	s.mustAPI(t, 201, "POST", "/groups/"+url.PathEscape(group)+"/members", token, map[string]any{"user_id": userID, "access_level": level}, nil)
}

// TestGroupsAPI drives groups, subgroups, members and namespaces through
// the API, bad input included: every refusal is a 4xx naming its field
// or subject, and leaves the store as it was; on both stores.
func TestGroupsAPI(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) { testGroupsAPI(t, startServer(t, st.mod)) })
	}
}

func testGroupsAPI(t *testing.T, s *testServer) {
	aliceID, alice := s.user(t, "alice")
	bobID, bob := s.user(t, "bob")
	_, carol := s.user(t, "carol")
	corp := s.group(t, alice, "corp", 0, "internal")
	if corp.FullPath != "corp" || corp.ParentID != nil || corp.Visibility != "internal" || !strings.HasSuffix(corp.WebURL, "/groups/corp") {
		t.Fatalf("created %+v", corp)
	}
	team := s.group(t, alice, "team", corp.ID, "private")
	if team.FullPath != "corp/team" || team.ParentID == nil || *team.ParentID != corp.ID || team.FullName != "Name of corp / Name of team" {
		t.Fatalf("created subgroup %+v", team)
	}
	secret := s.group(t, carol, "secret", 0, "private")
	s.project(t, alice, "corp/team/app", "private")
	s.groupMember(t, alice, "corp", bobID, 30) // developer in corp

	tests := []struct {
		name, method, path, token string
		body                      map[string]any
		status                    int
		want                      string // in the body
	}{
		{"get by path", "GET", "/groups/corp%2Fteam", bob, nil, 200, `"full_path":"corp/team"`},
		{"get by id", "GET", fmt.Sprintf("/groups/%d", team.ID), bob, nil, 200, `"full_name":"Name of corp / Name of team"`},
		{"another's private group", "GET", "/groups/secret", alice, nil, 404, "404 Group Not Found"},
		{"subgroups", "GET", "/groups/corp/subgroups", bob, nil, 200, `"full_path":"corp/team"`},
		{"group projects", "GET", "/groups/corp%2Fteam/projects", bob, nil, 200, `"path_with_namespace":"corp/team/app"`},
		{"project's namespace", "GET", "/projects/corp%2Fteam%2Fapp", bob, nil, 200, `"kind":"group"`},
		{"inherited project members", "GET", "/projects/corp%2Fteam%2Fapp/members/all", bob, nil, 200, `"username":"bob","name":"bob"`},
		{"inherited group members", "GET", "/groups/corp%2Fteam/members/all", bob, nil, 200, `"access_level":30`},
		{"own members only", "GET", "/groups/corp%2Fteam/members", bob, nil, 200, `"username":"alice"`},
		{"list groups", "GET", "/groups?search=team", bob, nil, 200, `"full_path":"corp/team"`},
		{"namespaces", "GET", "/namespaces", bob, nil, 200, `"full_path":"corp/team"`},
		{"own namespace", "GET", "/namespaces/bob", bob, nil, 200, `"kind":"user"`},
		{"another's namespace", "GET", "/namespaces/alice", bob, nil, 404, "404 Namespace Not Found"},
		{"unknown parent", "POST", "/groups", alice, map[string]any{"name": "x", "path": "x", "parent_id": 999}, 404, "Parent Group Not Found"},
		{"parent the caller can't see", "POST", "/groups", alice, map[string]any{"name": "x", "path": "x", "parent_id": secret.ID}, 404, "Parent Group Not Found"},
		{"parent where the caller is a developer", "POST", "/groups", bob, map[string]any{"name": "x", "path": "x", "parent_id": corp.ID}, 403, "Maintainer"},
		{"bad parent", "POST", "/groups", alice, map[string]any{"name": "x", "path": "x", "parent_id": -1}, 400, "parent_id"},
		{"a username's path", "POST", "/groups", carol, map[string]any{"name": "x", "path": "Alice"}, 400, "path has already been taken"},
		{"a group's path", "POST", "/groups", carol, map[string]any{"name": "x", "path": "CORP"}, 400, "path has already been taken"},
		{"a project's path", "POST", "/groups", alice, map[string]any{"name": "x", "path": "app", "parent_id": team.ID}, 400, "path has already been taken"},
		{"bad path", "POST", "/groups", alice, map[string]any{"name": "x", "path": "a/b"}, 400, "path"},
		{"no path", "POST", "/groups", alice, map[string]any{"name": "x"}, 400, "path is missing"},
		{"reserved path", "POST", "/groups", alice, map[string]any{"path": "api"}, 400, "reserved"},
		{"bad visibility", "POST", "/groups", alice, map[string]any{"path": "v", "visibility": "secret"}, 400, "visibility"},
		{"more visible than its parent", "POST", "/groups", alice, map[string]any{"path": "v", "parent_id": team.ID, "visibility": "public"}, 400, "visibility"},
		{"user named like a group", "POST", "/users", s.AdminToken, map[string]any{"username": "corp", "name": "x"}, 409, "taken"},
		{"delete while not empty", "DELETE", "/groups/corp", alice, nil, 409, "still holds subgroups or projects"},
		{"delete as a developer", "DELETE", "/groups/corp%2Fteam", bob, nil, 403, ""},
		{"update as a developer", "PUT", "/groups/corp", bob, map[string]any{"name": "mine"}, 403, ""},
		{"update visibility above the parent", "PUT", "/groups/corp%2Fteam", alice, map[string]any{"visibility": "public"}, 400, "visibility"},
		{"update below a subgroup", "PUT", "/groups/corp", alice, map[string]any{"visibility": "private"}, 200, `"visibility":"private"`},
		{"update the path", "PUT", "/groups/corp", alice, map[string]any{"path": "other"}, 400, "path"},
		{"access level out of range", "POST", "/groups/corp/members", alice, map[string]any{"user_id": aliceID, "access_level": 45}, 400, "access_level"},
		{"access level missing", "POST", "/groups/corp/members", alice, map[string]any{"user_id": bobID}, 400, "access_level"},
		{"member twice", "POST", "/groups/corp/members", alice, map[string]any{"user_id": bobID, "access_level": 30}, 409, "Member already exists"},
		{"developer adds a member", "POST", "/groups/corp%2Fteam/members", bob, map[string]any{"user_id": bobID, "access_level": 30}, 403, ""},
		{"below the inherited level", "POST", "/groups/corp%2Fteam/members", alice, map[string]any{"user_id": bobID, "access_level": 20}, 400, "inherited"},
		{"unknown user", "POST", "/groups/corp/members", alice, map[string]any{"user_id": 999, "access_level": 30}, 404, "User Not Found"},
		{"last owner leaves", "DELETE", fmt.Sprintf("/groups/corp/members/%d", aliceID), alice, nil, 400, "owner"},
		{"last owner demoted", "PUT", fmt.Sprintf("/groups/corp/members/%d", aliceID), alice, map[string]any{"access_level": 40}, 400, "owner"},
		{"delete a user owning a group", "DELETE", fmt.Sprintf("/users/%d", aliceID), s.AdminToken, nil, 409, "group corp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.api(t, tt.method, tt.path, tt.token, tt.body)
			if r.Status != tt.status || !strings.Contains(string(r.Body), tt.want) {
				t.Fatalf("%d %s; want %d with %q", r.Status, r.Body, tt.status, tt.want)
			}
		})
	}
	// The refusals above changed nothing.
	var gs []groupInfo
	s.mustAPI(t, 200, "GET", "/groups", s.AdminToken, nil, &gs)
	if len(gs) != 3 {
		t.Errorf("groups after the refusals: %+v", gs)
	}
	// Once empty, a group is deleted; bob then has nothing below corp.
	s.mustAPI(t, 202, "DELETE", "/projects/corp%2Fteam%2Fapp", alice, nil, nil)
	s.mustAPI(t, 202, "DELETE", "/groups/corp%2Fteam", alice, nil, nil)
	s.mustAPI(t, 404, "GET", "/groups/corp%2Fteam", alice, nil, nil)
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/groups/corp/members/%d", bobID), bob, nil, nil) // bob leaves
}

// TestNamespaceRights: the attacks on namespaces fail. A
// maintainer of one project in a group can't create beside it elsewhere
// in the group; a namespace named like a user who does not exist yet
// becomes a group, and then no user can take that name.
func TestNamespaceRights(t *testing.T) {
	s := startServer(t, nil)
	_, alice := s.user(t, "alice")
	malloryID, mallory := s.user(t, "mallory")
	s.project(t, alice, "corp/team-a/secret", "private")
	s.project(t, alice, "corp/team-b/shared", "private")
	s.member(t, "corp/team-b/shared", malloryID, 40)
	for _, tc := range []struct{ name, ns, path string }{
		{"beside the group of a project one maintains", "corp/team-a", "evil"},
		{"a new subgroup", "corp/team-c", "evil"},
		{"the group of the project one maintains", "corp/team-b", "evil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.api(t, "POST", "/projects", mallory, map[string]any{"path": tc.path, "namespace_path": tc.ns})
			if r.Status != 403 {
				t.Fatalf("%d %s; want 403", r.Status, r.Body)
			}
		})
	}
	// corp is private (as the projects it was made for): to mallory it
	// does not exist.
	if r := s.api(t, "POST", "/groups", mallory, map[string]any{"path": "x", "parent_id": s.groupID(t, "corp")}); r.Status != 404 {
		t.Errorf("subgroup in corp: %d %s", r.Status, r.Body)
	}
	// dave does not exist yet: the namespace becomes mallory's group,
	// and the name is no one's to take as a user.
	p := s.project(t, mallory, "dave/tools", "private")
	var got struct {
		Namespace struct{ Kind, FullPath string } `json:"namespace"`
	}
	s.mustAPI(t, 200, "GET", fmt.Sprintf("/projects/%d", p.ID), mallory, nil, &got)
	if got.Namespace.Kind != "group" {
		t.Errorf("dave/tools namespace %+v, want a group", got.Namespace)
	}
	if r := s.api(t, "POST", "/users", s.AdminToken, map[string]any{"username": "Dave", "name": "Dave"}); r.Status != 409 {
		t.Errorf("a user named like a group: %d %s", r.Status, r.Body)
	}
	// With top-level groups closed, only admins start new namespaces.
	closed := startServer(t, func(c *Config) { c.AllowTopLevelGroups = false })
	_, eve := closed.user(t, "eve")
	for _, req := range []struct {
		path string
		body map[string]any
	}{
		{"/groups", map[string]any{"path": "newtop"}},
		{"/projects", map[string]any{"path": "x", "namespace_path": "newtop"}},
	} {
		if r := closed.api(t, "POST", req.path, eve, req.body); r.Status != 403 {
			t.Errorf("POST %s with top-level groups closed: %d %s", req.path, r.Status, r.Body)
		}
	}
	closed.project(t, eve, "eve/own", "private")
	closed.group(t, closed.AdminToken, "newtop", 0, "")
}

func (s *testServer) groupID(t *testing.T, path string) int64 {
	t.Helper()
	var g groupInfo
	s.mustAPI(t, 200, "GET", "/groups/"+url.PathEscape(path), s.AdminToken, nil, &g)
	return g.ID
}

// TestGroupsGitLabClient drives groups, subgroups, members and namespaces
// through GitLab's own Go client, which must work unchanged; on both
// stores.
func TestGroupsGitLabClient(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) { testGroupsGitLabClient(t, startServer(t, st.mod)) })
	}
}

func testGroupsGitLabClient(t *testing.T, s *testServer) {
	bobID, _ := s.user(t, "bob")
	gl, err := gitlab.NewClient(s.AdminToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	corp, _, err := gl.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Corp"), Path: gitlab.Ptr("corp"), Visibility: gitlab.Ptr(gitlab.InternalVisibility)})
	if err != nil || corp.FullPath != "corp" || corp.Visibility != gitlab.InternalVisibility {
		t.Fatalf("CreateGroup: %+v, %v", corp, err)
	}
	sub, _, err := gl.Groups.CreateGroup(&gitlab.CreateGroupOptions{Name: gitlab.Ptr("Team"), Path: gitlab.Ptr("team"), ParentID: gitlab.Ptr(corp.ID)})
	if err != nil || sub.FullPath != "corp/team" || sub.ParentID != corp.ID || sub.FullName != "Corp / Team" {
		t.Fatalf("CreateGroup (subgroup): %+v, %v", sub, err)
	}
	subs, _, err := gl.Groups.ListSubGroups(corp.ID, nil)
	if err != nil || len(subs) != 1 || subs[0].ID != sub.ID {
		t.Fatalf("ListSubGroups: %+v, %v", subs, err)
	}
	got, _, err := gl.Groups.GetGroup("corp/team", nil)
	if err != nil || got.ID != sub.ID {
		t.Fatalf("GetGroup by path: %+v, %v", got, err)
	}
	m, _, err := gl.GroupMembers.AddGroupMember(corp.ID, &gitlab.AddGroupMemberOptions{UserID: gitlab.Ptr(bobID), AccessLevel: gitlab.Ptr(gitlab.MaintainerPermissions)})
	if err != nil || m.Username != "bob" || m.AccessLevel != gitlab.MaintainerPermissions {
		t.Fatalf("AddGroupMember: %+v, %v", m, err)
	}
	all, _, err := gl.Groups.ListAllGroupMembers(sub.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]gitlab.AccessLevelValue{}
	for _, m := range all {
		levels[m.Username] = m.AccessLevel
	}
	if levels["bob"] != gitlab.MaintainerPermissions || levels["root"] != gitlab.OwnerPermissions {
		t.Errorf("ListAllGroupMembers of the subgroup: %v", levels)
	}
	p, _, err := gl.Projects.CreateProject(&gitlab.CreateProjectOptions{Path: gitlab.Ptr("app"), NamespaceID: gitlab.Ptr(sub.ID)})
	if err != nil || p.PathWithNamespace != "corp/team/app" || p.Namespace == nil || p.Namespace.ID != sub.ID || p.Namespace.Kind != "group" {
		t.Fatalf("CreateProject in the subgroup: %+v, %v", p, err)
	}
	ps, _, err := gl.Groups.ListGroupProjects("corp/team", nil)
	if err != nil || len(ps) != 1 || ps[0].ID != p.ID {
		t.Fatalf("ListGroupProjects: %+v, %v", ps, err)
	}
	ns, _, err := gl.Namespaces.GetNamespace("corp/team")
	if err != nil || ns.Kind != "group" || ns.ID != sub.ID || ns.ParentID != corp.ID {
		t.Fatalf("GetNamespace: %+v, %v", ns, err)
	}
	if _, err := gl.Groups.DeleteGroup(sub.ID, nil); err == nil {
		t.Fatal("DeleteGroup of a group holding a project succeeded")
	}
	if _, err := gl.Projects.DeleteProject(p.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := gl.Groups.DeleteGroup(sub.ID, nil); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
}

package main

import (
	"net/http"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestSingleRecordGets: GitLab's client reads a user and a project's or a
// group's member one at a time (python-gitlab's get() before save()); they
// answered 405. Non-admins see another user's public fields only; an
// unknown member is 404, never 405.
func TestSingleRecordGets(t *testing.T) {
	s := startServer(t, nil)
	aliceID, alice := s.user(t, "alice")
	bobID, bob := s.user(t, "bob")
	s.groupAt(t, alice, "corp")
	s.groupMember(t, alice, "corp", bobID, 30)
	s.project(t, alice, "corp/app", "private")
	gl, err := gitlab.NewClient(s.AdminToken, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	asBob, err := gitlab.NewClient(bob, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	if u, _, err := gl.Users.GetUser(int64(aliceID), gitlab.GetUsersOptions{}); err != nil || u.Username != "alice" {
		t.Errorf("admin GetUser: %+v, %v", u, err)
	}
	if u, _, err := asBob.Users.GetUser(int64(aliceID), gitlab.GetUsersOptions{}); err != nil || u.Username != "alice" || u.IsAdmin {
		t.Errorf("bob GetUser: %+v, %v", u, err)
	}
	if m, _, err := asBob.GroupMembers.GetGroupMember("corp", int64(bobID)); err != nil || m.AccessLevel != gitlab.DeveloperPermissions {
		t.Errorf("GetGroupMember: %+v, %v", m, err)
	}
	if m, _, err := gl.ProjectMembers.GetProjectMember("corp/app", int64(aliceID)); err != nil || m.AccessLevel != gitlab.OwnerPermissions {
		t.Errorf("GetProjectMember: %+v, %v", m, err)
	}
	for _, path := range []string{"/users/999", "/groups/corp/members/999", "/projects/corp%2Fapp/members/999"} {
		if r := s.api(t, "GET", path, s.AdminToken, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	if r := s.api(t, "GET", "/users/abc", s.AdminToken, nil); r.Status/100 != 4 {
		t.Errorf("GET /users/abc: %d %s", r.Status, r.Body)
	}
}

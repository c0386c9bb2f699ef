package tokens_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestInheritedAccess: a group member has at least that level on every
// subgroup and project below; the effective level is the highest along
// the path; a group beside the path gives nothing.
func TestInheritedAccess(t *testing.T) {
	ctx := t.Context()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "access.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc := &tokens.Service{Store: s}
	now := time.Now()
	users := map[string]*tokens.User{}
	for _, name := range []string{"owner", "top", "sub", "direct", "beside", "nobody"} {
		u := &tokens.User{Username: name, Name: name, CreatedAt: now}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		users[name] = u
	}
	group := func(path string, parent int64) tokens.Group {
		t.Helper()
		g := tokens.Group{Name: path, Path: lastSegment(path), FullPath: path, ParentID: parent, Visibility: tokens.Private, CreatedAt: now}
		if err := s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: users["owner"].ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
			t.Fatalf("CreateGroup %s: %v", path, err)
		}
		return g
	}
	corp := group("corp", 0)
	team := group("corp/team", corp.ID)
	other := group("other", 0)
	p := tokens.Project{Path: "app", PathWithNamespace: "corp/team/app", Visibility: tokens.Private, NamespaceID: team.ID, CreatedAt: now}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: users["owner"].ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// A project stored in corp's namespace before corp was a group (no
	// NamespaceID): corp's members get nothing on it.
	old := tokens.Project{Path: "old", PathWithNamespace: "corp/old", Visibility: tokens.Private, CreatedAt: now}
	if err := s.CreateProject(ctx, &old, tokens.Member{UserID: users["owner"].ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	put := func(g tokens.Group, u string, l tokens.AccessLevel) {
		if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: g.ID, UserID: users[u].ID, AccessLevel: l, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	put(corp, "top", tokens.Reporter)
	put(team, "top", tokens.Maintainer) // higher below: the highest wins
	put(team, "sub", tokens.Developer)
	put(corp, "direct", tokens.Maintainer)
	put(other, "beside", tokens.Owner)
	if err := s.PutMember(ctx, tokens.Member{ProjectID: p.ID, UserID: users["direct"].ID, AccessLevel: tokens.Guest, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user                string
		project, corp, team tokens.AccessLevel
	}{
		{"top", tokens.Maintainer, tokens.Reporter, tokens.Maintainer},
		{"sub", tokens.Developer, 0, tokens.Developer},
		{"direct", tokens.Maintainer, tokens.Maintainer, tokens.Maintainer},
		{"beside", 0, 0, 0},
		{"nobody", 0, 0, 0},
		{"owner", tokens.Owner, tokens.Owner, tokens.Owner},
	} {
		t.Run(tc.user, func(t *testing.T) {
			u := users[tc.user]
			if got, err := svc.AccessLevel(ctx, u, &p); err != nil || got != tc.project {
				t.Errorf("project: %d, %v; want %d", got, err, tc.project)
			}
			wantOld := tokens.AccessLevel(0)
			if tc.user == "owner" {
				wantOld = tokens.Owner // its own project member
			}
			if got, err := svc.AccessLevel(ctx, u, &old); err != nil || got != wantOld {
				t.Errorf("project outside any group: %d, %v; want %d", got, err, wantOld)
			}
			if got, err := svc.GroupAccessLevel(ctx, u, &corp); err != nil || got != tc.corp {
				t.Errorf("corp: %d, %v; want %d", got, err, tc.corp)
			}
			if got, err := svc.GroupAccessLevel(ctx, u, &team); err != nil || got != tc.team {
				t.Errorf("corp/team: %d, %v; want %d", got, err, tc.team)
			}
		})
	}
}

func lastSegment(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// mustGroup creates the group at fullPath inside parent (the zero Group at
// the top level), owned by owner.
func mustGroup(t *testing.T, s tokens.Store, fullPath string, parent tokens.Group, owner tokens.User) tokens.Group {
	t.Helper()
	g := newGroup(fullPath, parent.ID, owner)
	if err := s.CreateGroup(t.Context(), &g, tokens.GroupMember{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: when}); err != nil {
		t.Fatalf("CreateGroup(%q): %v", fullPath, err)
	}
	return g
}

func newGroup(fullPath string, parentID int64, creator tokens.User) tokens.Group {
	path := fullPath[strings.LastIndex(fullPath, "/")+1:]
	return tokens.Group{Name: "Name of " + path, Path: path, FullPath: fullPath, ParentID: parentID,
		Visibility: tokens.Private, Description: "about " + path, CreatorID: creator.ID, CreatedAt: when}
}

// newProjectIn answers a project at path in the group namespaceID (0: a
// personal namespace).
func newProjectIn(path string, namespaceID int64, creator tokens.User) tokens.Project {
	return tokens.Project{Path: path[strings.LastIndex(path, "/")+1:], PathWithNamespace: path, Visibility: tokens.Private,
		CreatorID: creator.ID, CreatedAt: when, NamespaceID: namespaceID}
}

func mustProjectIn(t *testing.T, s tokens.Store, path string, g tokens.Group, owner tokens.User) tokens.Project {
	t.Helper()
	p := newProjectIn(path, g.ID, owner)
	if err := s.CreateProject(t.Context(), &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: when}); err != nil {
		t.Fatalf("CreateProject(%q in %q): %v", path, g.FullPath, err)
	}
	return p
}

func mustGroupDeployToken(t *testing.T, s tokens.Store, g tokens.Group, secret string) tokens.DeployToken {
	t.Helper()
	d := tokens.DeployToken{GroupID: g.ID, Name: "group token", Scopes: []string{tokens.ScopeReadRegistry, tokens.ScopeReadRepository},
		CreatedAt: when, CreatorID: g.CreatorID, Digest: digest(secret)}
	if err := s.CreateDeployToken(t.Context(), &d); err != nil {
		t.Fatalf("CreateDeployToken(group %q): %v", g.FullPath, err)
	}
	return d
}

func testGroups(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "Alice")
	corp := mustGroup(t, s, "Corp", tokens.Group{}, alice)
	if corp.ID == 0 {
		t.Fatal("CreateGroup did not assign an ID")
	}
	teamA := mustGroup(t, s, "Corp/Team-A", corp, alice)
	teamB := mustGroup(t, s, "corp/team-b", corp, alice)
	deep := mustGroup(t, s, "corp/team-a/Deep", teamA, alice)

	lookups := []struct {
		name    string
		get     func() (tokens.Group, error)
		want    tokens.Group
		wantErr error
	}{
		{"by id", func() (tokens.Group, error) { return s.Group(ctx, teamA.ID) }, teamA, nil},
		{"by path", func() (tokens.Group, error) { return s.GroupByPath(ctx, "Corp/Team-A") }, teamA, nil},
		{"by path in other case", func() (tokens.Group, error) { return s.GroupByPath(ctx, "CORP/team-a/deep") }, deep, nil},
		{"top level", func() (tokens.Group, error) { return s.GroupByPath(ctx, "corp") }, corp, nil},
		{"missing id", func() (tokens.Group, error) { return s.Group(ctx, deep.ID+1000) }, tokens.Group{}, tokens.ErrNotFound},
		{"missing path", func() (tokens.Group, error) { return s.GroupByPath(ctx, "corp/team-c") }, tokens.Group{}, tokens.ErrNotFound},
		{"path prefix", func() (tokens.Group, error) { return s.GroupByPath(ctx, "corp/team") }, tokens.Group{}, tokens.ErrNotFound},
	}
	for _, tt := range lookups {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if tt.wantErr != nil {
				wantErr(t, "lookup", err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("lookup: %v", err)
			}
			wantEqual(t, "group", got, tt.want)
		})
	}

	t.Run("owner member", func(t *testing.T) {
		m, err := s.GroupMember(ctx, teamA.ID, alice.ID)
		if err != nil {
			t.Fatalf("GroupMember: %v", err)
		}
		wantEqual(t, "owner", m, tokens.GroupMember{GroupID: teamA.ID, UserID: alice.ID, AccessLevel: tokens.Owner, CreatedAt: when})
	})

	app := mustProjectIn(t, s, "Corp/App", corp, alice)
	lib := mustProjectIn(t, s, "corp/team-a/lib", teamA, alice)
	legacy := mustProject(t, s, "legacy/tool", alice)

	// Every refusal leaves the store as it was: the path stays free.
	bad := []struct {
		name    string
		g       tokens.Group
		owner   tokens.User
		wantErr error
	}{
		{"taken path", newGroup("corp/team-a", corp.ID, alice), alice, tokens.ErrConflict},
		{"taken path in other case", newGroup("CORP", 0, alice), alice, tokens.ErrConflict},
		{"a username", newGroup("ALICE", 0, alice), alice, tokens.ErrConflict},
		{"a project's path", newGroup("corp/app", corp.ID, alice), alice, tokens.ErrConflict},
		{"missing parent", newGroup("corp/x", deep.ID+1000, alice), alice, tokens.ErrNotFound},
		{"another parent", newGroup("corp/team-b/x", teamA.ID, alice), alice, tokens.ErrNotFound},
		{"parent not the namespace", newGroup("other/x", corp.ID, alice), alice, tokens.ErrNotFound},
		{"parent deeper than the namespace", newGroup("corp/x", deep.ID, alice), alice, tokens.ErrNotFound},
		{"no parent for a nested path", newGroup("corp/x", 0, alice), alice, tokens.ErrNotFound},
		{"missing owner", newGroup("free", 0, alice), tokens.User{ID: alice.ID + 1000}, tokens.ErrNotFound},
	}
	for _, tt := range bad {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			g := tt.g
			err := s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: tt.owner.ID, AccessLevel: tokens.Owner})
			wantErr(t, "CreateGroup("+tt.g.FullPath+")", err, tt.wantErr)
		})
	}
	t.Run("refused: the store is unchanged", func(t *testing.T) {
		for _, path := range []string{"corp/x", "corp/team-b/x", "other/x", "free", "alice"} {
			_, err := s.GroupByPath(ctx, path)
			wantErr(t, "GroupByPath("+path+")", err, tokens.ErrNotFound)
		}
		got, err := s.ListGroups(ctx, 0, 100)
		if err != nil {
			t.Fatalf("ListGroups: %v", err)
		}
		wantEqual(t, "groups", got, []tokens.Group{corp, teamA, teamB, deep})
	})

	t.Run("usernames", func(t *testing.T) {
		for i, name := range []string{"corp", "CORP", "Corp"} {
			u := tokens.User{Username: name}
			wantErr(t, fmt.Sprintf("CreateUser(%s) #%d", name, i), s.CreateUser(ctx, &u), tokens.ErrConflict)
		}
		// Only a top-level path is a namespace a user could have.
		mustUser(t, s, "team-a")
	})

	t.Run("projects", func(t *testing.T) {
		wantEqual(t, "project namespace", mustProjectByPath(t, s, "corp/app").NamespaceID, corp.ID)
		wantEqual(t, "legacy namespace", mustProjectByPath(t, s, "legacy/tool").NamespaceID, int64(0))
		refused := []struct {
			name    string
			p       tokens.Project
			wantErr error
		}{
			{"a group's path", newProjectIn("Corp/Team-A", corp.ID, alice), tokens.ErrConflict},
			{"a group's path outside a group", newProjectIn("corp/team-b", 0, alice), tokens.ErrConflict},
			{"missing group", newProjectIn("corp/x", deep.ID+1000, alice), tokens.ErrNotFound},
			{"group not the namespace", newProjectIn("other/x", corp.ID, alice), tokens.ErrNotFound},
			{"group above the namespace", newProjectIn("corp/team-a/x", corp.ID, alice), tokens.ErrNotFound},
			{"group below the namespace", newProjectIn("corp/x", teamA.ID, alice), tokens.ErrNotFound},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				p := tt.p
				err := s.CreateProject(ctx, &p, tokens.Member{UserID: alice.ID, AccessLevel: tokens.Owner})
				wantErr(t, "CreateProject("+tt.p.PathWithNamespace+")", err, tt.wantErr)
				_, err = s.ProjectByPath(ctx, tt.p.PathWithNamespace)
				wantErr(t, "ProjectByPath after the refusal", err, tokens.ErrNotFound)
			})
		}
		for _, tt := range []struct {
			g    tokens.Group
			want []tokens.Project
		}{{corp, []tokens.Project{app}}, {teamA, []tokens.Project{lib}}, {teamB, nil}, {tokens.Group{ID: deep.ID + 1000}, nil}} {
			got, err := s.ListGroupProjects(ctx, tt.g.ID)
			if err != nil {
				t.Fatalf("ListGroupProjects(%d): %v", tt.g.ID, err)
			}
			wantEqual(t, "projects of "+tt.g.FullPath, got, tt.want)
		}
		all, err := s.ListProjects(ctx)
		if err != nil {
			t.Fatalf("ListProjects: %v", err)
		}
		wantEqual(t, "all projects", all, []tokens.Project{app, lib, legacy})
	})

	t.Run("groups along", func(t *testing.T) {
		for _, tt := range []struct {
			path string
			want []tokens.Group
		}{
			{"corp/team-a/lib", []tokens.Group{corp, teamA}},
			{"CORP/TEAM-A/DEEP/x/y", []tokens.Group{corp, teamA, deep}},
			{"corp/team-a", []tokens.Group{corp, teamA}},
			{"corp", []tokens.Group{corp}},
			{"corp/team-ab/x", []tokens.Group{corp}},
			{"corp/team-a-b/x", []tokens.Group{corp}},
			{"corporate/x", nil},
			{"legacy/tool", nil},
			{"", nil},
		} {
			got, err := s.GroupsAlong(ctx, tt.path)
			if err != nil {
				t.Fatalf("GroupsAlong(%q): %v", tt.path, err)
			}
			wantEqual(t, "groups along "+tt.path, got, tt.want)
		}
	})

	t.Run("subgroups", func(t *testing.T) {
		for _, tt := range []struct {
			g    tokens.Group
			want []tokens.Group
		}{{corp, []tokens.Group{teamA, teamB}}, {teamA, []tokens.Group{deep}}, {deep, nil}} {
			got, err := s.ListSubgroups(ctx, tt.g.ID)
			if err != nil {
				t.Fatalf("ListSubgroups(%s): %v", tt.g.FullPath, err)
			}
			wantEqual(t, "subgroups of "+tt.g.FullPath, got, tt.want)
		}
	})

	t.Run("update", func(t *testing.T) {
		changed := teamB
		changed.Name, changed.Description, changed.Visibility = "Team B", "", tokens.Public
		// What UpdateGroup does not change.
		sneaky := changed
		sneaky.Path, sneaky.FullPath, sneaky.ParentID, sneaky.CreatorID, sneaky.CreatedAt = "evil", "evil", 0, alice.ID+1, when.Add(1)
		if err := s.UpdateGroup(ctx, sneaky); err != nil {
			t.Fatalf("UpdateGroup: %v", err)
		}
		got, err := s.Group(ctx, teamB.ID)
		if err != nil {
			t.Fatalf("Group: %v", err)
		}
		wantEqual(t, "updated group", got, changed)
		if got, err := s.GroupByPath(ctx, "corp/team-b"); err != nil || got.ID != teamB.ID {
			t.Errorf("GroupByPath(corp/team-b) after update = %+v, %v", got, err)
		}
		_, err = s.GroupByPath(ctx, "evil")
		wantErr(t, "GroupByPath(evil)", err, tokens.ErrNotFound)
		missing := changed
		missing.ID = deep.ID + 1000
		wantErr(t, "UpdateGroup(missing)", s.UpdateGroup(ctx, missing), tokens.ErrNotFound)
		teamB = changed
	})

	t.Run("delete", func(t *testing.T) {
		dev := mustUser(t, s, "dev")
		if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: teamB.ID, UserID: dev.ID, AccessLevel: tokens.Developer}); err != nil {
			t.Fatalf("PutGroupMember: %v", err)
		}
		tok := mustGroupDeployToken(t, s, teamB, "team-b token")
		svc := mustProjectIn(t, s, "corp/team-b/svc", teamB, alice)

		wantErr(t, "DeleteGroup(corp) with subgroups and a project", s.DeleteGroup(ctx, corp.ID), tokens.ErrNotEmpty)
		wantErr(t, "DeleteGroup(team-a) with a subgroup and a project", s.DeleteGroup(ctx, teamA.ID), tokens.ErrNotEmpty)
		wantErr(t, "DeleteGroup(team-b) with a project", s.DeleteGroup(ctx, teamB.ID), tokens.ErrNotEmpty)
		if _, _, err := s.DeployTokenByDigest(ctx, tok.Digest); err != nil {
			t.Errorf("DeployTokenByDigest after the refused delete: %v", err)
		}
		if err := s.DeleteProject(ctx, svc.ID); err != nil {
			t.Fatalf("DeleteProject: %v", err)
		}
		if got, err := s.ListGroupProjects(ctx, teamB.ID); err != nil || len(got) != 0 {
			t.Errorf("ListGroupProjects after DeleteProject = %v, %v; want none", got, err)
		}
		if err := s.DeleteGroup(ctx, teamB.ID); err != nil {
			t.Fatalf("DeleteGroup(team-b) once empty: %v", err)
		}

		_, err := s.Group(ctx, teamB.ID)
		wantErr(t, "Group", err, tokens.ErrNotFound)
		_, err = s.GroupByPath(ctx, "corp/team-b")
		wantErr(t, "GroupByPath", err, tokens.ErrNotFound)
		_, err = s.GroupMember(ctx, teamB.ID, dev.ID)
		wantErr(t, "GroupMember", err, tokens.ErrNotFound)
		if got, err := s.GroupMembershipsOf(ctx, dev.ID); err != nil || len(got) != 0 {
			t.Errorf("GroupMembershipsOf = %v, %v; want none", got, err)
		}
		if got, err := s.ListGroupMembers(ctx, teamB.ID); err != nil || len(got) != 0 {
			t.Errorf("ListGroupMembers = %v, %v; want none", got, err)
		}
		_, _, err = s.DeployTokenByDigest(ctx, tok.Digest)
		wantErr(t, "DeployTokenByDigest", err, tokens.ErrNotFound)
		if a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: tok.Digest, Username: tok.Username}); err != nil || a.Found {
			t.Errorf("DeployTokenForAuth = found %v, %v; want not found", a.Found, err)
		}
		_, err = s.GroupDeployToken(ctx, teamB.ID, tok.ID)
		wantErr(t, "GroupDeployToken", err, tokens.ErrNotFound)
		if got, err := s.ListGroupDeployTokens(ctx, teamB.ID); err != nil || len(got) != 0 {
			t.Errorf("ListGroupDeployTokens = %v, %v; want none", got, err)
		}
		if all, err := s.ListAllDeployTokens(ctx); err != nil || len(all) != 0 {
			t.Errorf("ListAllDeployTokens = %v, %v; want none", all, err)
		}
		got, err := s.ListSubgroups(ctx, corp.ID)
		if err != nil {
			t.Fatalf("ListSubgroups: %v", err)
		}
		wantEqual(t, "subgroups of corp", got, []tokens.Group{teamA})
		wantErr(t, "DeleteGroup again", s.DeleteGroup(ctx, teamB.ID), tokens.ErrNotFound)

		// The path is free again, with nothing of the deleted group.
		again := mustGroup(t, s, "Corp/Team-B", corp, dev)
		if again.ID == teamB.ID {
			t.Errorf("new group reused ID %d", again.ID)
		}
		if ms, err := s.ListGroupMembers(ctx, again.ID); err != nil || len(ms) != 1 || ms[0].UserID != dev.ID {
			t.Errorf("members of the new group = %v, %v; want its owner alone", ms, err)
		}
		if ts, err := s.ListGroupDeployTokens(ctx, again.ID); err != nil || len(ts) != 0 {
			t.Errorf("tokens of the new group = %v, %v; want none", ts, err)
		}
		// A deleted token's digest may be stored again.
		mustGroupDeployToken(t, s, again, "team-b token")

		// A deleted top-level group's path may become a username.
		top := mustGroup(t, s, "solo", tokens.Group{}, alice)
		if err := s.DeleteGroup(ctx, top.ID); err != nil {
			t.Fatalf("DeleteGroup(solo): %v", err)
		}
		mustUser(t, s, "Solo")
	})
}

func testListGroups(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	var all []tokens.Group
	for i := range 7 {
		g := mustGroup(t, s, fmt.Sprintf("g%d", i), tokens.Group{}, owner)
		all = append(all, g)
		all = append(all, mustGroup(t, s, fmt.Sprintf("g%d/sub", i), g, owner))
	}
	// A gap in the IDs: pages go on from an ID that no longer exists.
	if err := s.DeleteGroup(ctx, all[3].ID); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	all = append(all[:3], all[4:]...)

	for _, limit := range []int{1, 2, 3, 5, 13, 100} {
		t.Run(fmt.Sprint("pages of ", limit), func(t *testing.T) {
			var got []tokens.Group
			after := int64(0)
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatalf("more pages than groups")
				}
				page, err := s.ListGroups(ctx, after, limit)
				if err != nil {
					t.Fatalf("ListGroups(%d, %d): %v", after, limit, err)
				}
				if len(page) > limit {
					t.Fatalf("ListGroups(%d, %d) answered %d", after, limit, len(page))
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				after = page[len(page)-1].ID
			}
			wantEqual(t, "groups", got, all)
		})
	}
	t.Run("from the middle", func(t *testing.T) {
		got, err := s.ListGroups(ctx, all[2].ID, 2)
		if err != nil {
			t.Fatalf("ListGroups: %v", err)
		}
		wantEqual(t, "page", got, all[3:5])
	})
	t.Run("no limit", func(t *testing.T) {
		got, err := s.ListGroups(ctx, 0, 0)
		if err != nil || len(got) != 0 {
			t.Errorf("ListGroups(0, 0) = %v, %v; want none", got, err)
		}
	})
}

func testGroupMembers(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	dev := mustUser(t, s, "dev")
	guest := mustUser(t, s, "guest")
	g := mustGroup(t, s, "grp", tokens.Group{}, owner)
	h := mustGroup(t, s, "grp/sub", g, dev)

	puts := []struct {
		name    string
		m       tokens.GroupMember
		wantErr error
	}{
		{"add developer", tokens.GroupMember{GroupID: g.ID, UserID: dev.ID, AccessLevel: tokens.Reporter, CreatedAt: when}, nil},
		{"update developer", tokens.GroupMember{GroupID: g.ID, UserID: dev.ID, AccessLevel: tokens.Developer, CreatedAt: when}, nil},
		{"add guest", tokens.GroupMember{GroupID: g.ID, UserID: guest.ID, AccessLevel: tokens.Guest}, nil},
		{"missing group", tokens.GroupMember{GroupID: h.ID + 1000, UserID: dev.ID, AccessLevel: tokens.Guest}, tokens.ErrNotFound},
		{"missing user", tokens.GroupMember{GroupID: g.ID, UserID: guest.ID + 1000, AccessLevel: tokens.Guest}, tokens.ErrNotFound},
		{"demote the only owner", tokens.GroupMember{GroupID: h.ID, UserID: dev.ID, AccessLevel: tokens.Maintainer}, tokens.ErrLastOwner},
	}
	for _, tt := range puts {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.GroupMember(ctx, tt.m.GroupID, tt.m.UserID)
			err := s.PutGroupMember(ctx, tt.m)
			if tt.wantErr != nil {
				wantErr(t, "PutGroupMember", err, tt.wantErr)
				after, _ := s.GroupMember(ctx, tt.m.GroupID, tt.m.UserID)
				wantEqual(t, "member after failed put", after, before)
				return
			}
			if err != nil {
				t.Fatalf("PutGroupMember: %v", err)
			}
			got, err := s.GroupMember(ctx, tt.m.GroupID, tt.m.UserID)
			if err != nil {
				t.Fatalf("GroupMember: %v", err)
			}
			wantEqual(t, "member", got, tt.m)
		})
	}

	ownerOfG := tokens.GroupMember{GroupID: g.ID, UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: when}
	devOfG := tokens.GroupMember{GroupID: g.ID, UserID: dev.ID, AccessLevel: tokens.Developer, CreatedAt: when}
	guestOfG := tokens.GroupMember{GroupID: g.ID, UserID: guest.ID, AccessLevel: tokens.Guest}
	devOfH := tokens.GroupMember{GroupID: h.ID, UserID: dev.ID, AccessLevel: tokens.Owner, CreatedAt: when}

	got, err := s.ListGroupMembers(ctx, g.ID)
	if err != nil {
		t.Fatalf("ListGroupMembers: %v", err)
	}
	wantEqual(t, "members", got, []tokens.GroupMember{ownerOfG, devOfG, guestOfG})
	got, err = s.GroupMembershipsOf(ctx, dev.ID)
	if err != nil {
		t.Fatalf("GroupMembershipsOf: %v", err)
	}
	wantEqual(t, "memberships", got, []tokens.GroupMember{devOfG, devOfH})
	// Group and project memberships are apart.
	if ms, err := s.MembershipsOf(ctx, dev.ID); err != nil || len(ms) != 0 {
		t.Errorf("MembershipsOf = %v, %v; want no project memberships", ms, err)
	}

	t.Run("inherited", func(t *testing.T) {
		// What authorization reads for a project in grp/sub: the groups
		// along its path, and the user's memberships of them. The
		// highest level along the path is the user's.
		p := mustProjectIn(t, s, "grp/sub/app", h, dev)
		along, err := s.GroupsAlong(ctx, p.PathWithNamespace)
		if err != nil {
			t.Fatalf("GroupsAlong: %v", err)
		}
		wantEqual(t, "groups along", along, []tokens.Group{g, h})
		for _, tt := range []struct {
			u    tokens.User
			want tokens.AccessLevel
		}{{owner, tokens.Owner}, {dev, tokens.Owner}, {guest, tokens.Guest}} {
			var level tokens.AccessLevel
			for _, a := range along {
				if m, err := s.GroupMember(ctx, a.ID, tt.u.ID); err == nil {
					level = max(level, m.AccessLevel)
				} else if !errors.Is(err, tokens.ErrNotFound) {
					t.Fatalf("GroupMember: %v", err)
				}
			}
			if level != tt.want {
				t.Errorf("%s inherits %d on %s, want %d", tt.u.Username, level, p.PathWithNamespace, tt.want)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := s.DeleteGroupMember(ctx, g.ID, dev.ID); err != nil {
			t.Fatalf("DeleteGroupMember: %v", err)
		}
		_, err := s.GroupMember(ctx, g.ID, dev.ID)
		wantErr(t, "GroupMember after delete", err, tokens.ErrNotFound)
		wantErr(t, "DeleteGroupMember again", s.DeleteGroupMember(ctx, g.ID, dev.ID), tokens.ErrNotFound)
		wantErr(t, "DeleteGroupMember(only owner)", s.DeleteGroupMember(ctx, g.ID, owner.ID), tokens.ErrLastOwner)
		got, err := s.GroupMembershipsOf(ctx, dev.ID)
		if err != nil {
			t.Fatalf("GroupMembershipsOf: %v", err)
		}
		wantEqual(t, "memberships", got, []tokens.GroupMember{devOfH})
	})

	t.Run("owners demoting each other", func(t *testing.T) {
		if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: g.ID, UserID: guest.ID, AccessLevel: tokens.Owner}); err != nil {
			t.Fatalf("PutGroupMember: %v", err)
		}
		for i := range 10 {
			users := []tokens.User{owner, guest}
			errs := race(2, func(j int) error {
				if i%2 == 0 {
					return s.DeleteGroupMember(ctx, g.ID, users[j].ID)
				}
				return s.PutGroupMember(ctx, tokens.GroupMember{GroupID: g.ID, UserID: users[j].ID, AccessLevel: tokens.Developer})
			})
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d: %v, %v; want exactly one to succeed", i, errs[0], errs[1])
			}
			for _, err := range errs {
				if err != nil {
					wantErr(t, "the loser", err, tokens.ErrLastOwner)
				}
			}
			// Make both owners again for the next round.
			for _, u := range users {
				if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: g.ID, UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
					t.Fatalf("PutGroupMember: %v", err)
				}
			}
		}
	})
}

func testGroupDeployTokens(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	g := mustGroup(t, s, "grp", tokens.Group{}, owner)
	h := mustGroup(t, s, "other", tokens.Group{}, owner)
	p := mustProjectIn(t, s, "grp/app", g, owner)
	projectToken := mustDeployToken(t, s, p, "project token")
	gt := mustGroupDeployToken(t, s, g, "group token")
	if gt.ProjectID != 0 || gt.GroupID != g.ID || gt.Username != tokens.DefaultDeployTokenUsername(gt.ID) {
		t.Errorf("created %+v, want project 0, group %d, the default username", gt, g.ID)
	}
	named := tokens.DeployToken{GroupID: g.ID, Name: tokens.CITokenName, Username: "ci", Scopes: []string{tokens.ScopeReadRegistry},
		ExpiresAt: ptr(when.Add(1)), CreatedAt: when, CreatorID: owner.ID, Digest: digest("group ci"), CISecret: []byte("sealed")}
	if err := s.CreateDeployToken(ctx, &named); err != nil {
		t.Fatalf("CreateDeployToken: %v", err)
	}
	ht := mustGroupDeployToken(t, s, h, "other token")

	t.Run("create refused", func(t *testing.T) {
		for _, tt := range []struct {
			name    string
			d       tokens.DeployToken
			wantErr error
		}{
			{"missing group", tokens.DeployToken{GroupID: h.ID + 1000, Digest: digest("x1")}, tokens.ErrNotFound},
			{"taken digest", tokens.DeployToken{GroupID: g.ID, Digest: digest("project token")}, tokens.ErrConflict},
			{"project and group", tokens.DeployToken{ProjectID: p.ID, GroupID: g.ID, Digest: digest("x2")}, nil},
			{"neither", tokens.DeployToken{Digest: digest("x3")}, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				d := tt.d
				err := s.CreateDeployToken(ctx, &d)
				if err == nil {
					t.Fatal("CreateDeployToken succeeded")
				}
				if tt.wantErr != nil {
					wantErr(t, "CreateDeployToken", err, tt.wantErr)
				}
				if tt.wantErr != tokens.ErrConflict {
					_, _, err = s.DeployTokenByDigest(ctx, tt.d.Digest)
					wantErr(t, "DeployTokenByDigest after the refusal", err, tokens.ErrNotFound)
				}
			})
		}
	})

	t.Run("lists", func(t *testing.T) {
		got, err := s.ListGroupDeployTokens(ctx, g.ID)
		if err != nil {
			t.Fatalf("ListGroupDeployTokens: %v", err)
		}
		wantEqual(t, "group tokens", got, []tokens.DeployToken{gt, named})
		all, err := s.ListAllDeployTokens(ctx)
		if err != nil {
			t.Fatalf("ListAllDeployTokens: %v", err)
		}
		wantEqual(t, "all tokens", all, []tokens.DeployToken{projectToken, gt, named, ht})
		// A group's tokens are no project's.
		for _, id := range []int64{0, p.ID} {
			ts, err := s.ListDeployTokens(ctx, id)
			if err != nil {
				t.Fatalf("ListDeployTokens(%d): %v", id, err)
			}
			if id == 0 && len(ts) != 0 || id == p.ID && len(ts) != 1 {
				t.Errorf("ListDeployTokens(%d) = %v", id, ts)
			}
		}
	})

	t.Run("lookups", func(t *testing.T) {
		got, err := s.GroupDeployToken(ctx, g.ID, named.ID)
		if err != nil {
			t.Fatalf("GroupDeployToken: %v", err)
		}
		wantEqual(t, "token", got, named)
		for _, tt := range []struct {
			name      string
			group, id int64
		}{{"another group's", h.ID, gt.ID}, {"a project's", g.ID, projectToken.ID}, {"missing", g.ID, ht.ID + 1000}, {"group 0", 0, gt.ID}} {
			_, err := s.GroupDeployToken(ctx, tt.group, tt.id)
			wantErr(t, "GroupDeployToken("+tt.name+")", err, tokens.ErrNotFound)
		}
		_, err = s.DeployToken(ctx, 0, gt.ID)
		wantErr(t, "DeployToken(0, group token)", err, tokens.ErrNotFound)

		gotT, gotP, err := s.DeployTokenByDigest(ctx, gt.Digest)
		if err != nil {
			t.Fatalf("DeployTokenByDigest: %v", err)
		}
		wantEqual(t, "token by digest", gotT, gt)
		wantEqual(t, "project of a group token", gotP, tokens.Project{})

		a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: gt.Digest, Username: gt.Username})
		if err != nil {
			t.Fatalf("DeployTokenForAuth: %v", err)
		}
		if !a.Found {
			t.Fatal("DeployTokenForAuth did not find a group token")
		}
		wantEqual(t, "token for auth", a.Token, gt)
		wantEqual(t, "group for auth", a.Group, g)
		wantEqual(t, "project for auth", a.Project, tokens.Project{})
		a, err = s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: projectToken.Digest, Username: projectToken.Username})
		if err != nil || !a.Found {
			t.Fatalf("DeployTokenForAuth(project token) = found %v, %v", a.Found, err)
		}
		wantEqual(t, "group of a project token", a.Group, tokens.Group{})
		wantEqual(t, "project of a project token", a.Project, p)
	})

	t.Run("touch and revoke", func(t *testing.T) {
		used := when.Add(time.Minute)
		if err := s.TouchDeployToken(ctx, gt.ID, used); err != nil {
			t.Fatalf("TouchDeployToken: %v", err)
		}
		wantErr(t, "RevokeGroupDeployToken(another group)", s.RevokeGroupDeployToken(ctx, h.ID, gt.ID), tokens.ErrNotFound)
		wantErr(t, "RevokeGroupDeployToken(a project token)", s.RevokeGroupDeployToken(ctx, g.ID, projectToken.ID), tokens.ErrNotFound)
		wantErr(t, "RevokeDeployToken(0, group token)", s.RevokeDeployToken(ctx, 0, gt.ID), tokens.ErrNotFound)
		wantErr(t, "RevokeGroupDeployToken(missing)", s.RevokeGroupDeployToken(ctx, g.ID, ht.ID+1000), tokens.ErrNotFound)
		if got, err := s.GroupDeployToken(ctx, g.ID, gt.ID); err != nil || got.Revoked {
			t.Fatalf("after refused revokes: %+v, %v", got, err)
		}
		if err := s.RevokeGroupDeployToken(ctx, g.ID, gt.ID); err != nil {
			t.Fatalf("RevokeGroupDeployToken: %v", err)
		}
		want := gt
		want.Revoked, want.LastUsedAt = true, &used
		got, err := s.GroupDeployToken(ctx, g.ID, gt.ID)
		if err != nil {
			t.Fatalf("GroupDeployToken: %v", err)
		}
		wantEqual(t, "revoked token", got, want)
		if a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: gt.Digest}); err != nil || !a.Found || !a.Token.Revoked {
			t.Errorf("DeployTokenForAuth(revoked) = %+v, %v; want found and revoked", a, err)
		}
		if err := s.RevokeGroupDeployToken(ctx, g.ID, gt.ID); err != nil {
			t.Errorf("RevokeGroupDeployToken again: %v", err)
		}
	})
}

// testGroupRaces: the store, not a check before it, keeps groups' paths
// unique and their contents alive, so racing writes can't both win.
func testGroupRaces(t *testing.T, s tokens.Store) {
	const n = 16
	ctx := t.Context()
	owner := mustUser(t, s, "owner")

	t.Run("one group path", func(t *testing.T) {
		errs := race(n, func(i int) error {
			g := newGroup(caseVariant("racers", i), 0, owner)
			return s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: owner.ID, AccessLevel: tokens.Owner})
		})
		wantOneWinner(t, errs, tokens.ErrConflict)
		g, err := s.GroupByPath(ctx, "RACERS")
		if err != nil {
			t.Fatalf("GroupByPath: %v", err)
		}
		if ms, err := s.ListGroupMembers(ctx, g.ID); err != nil || len(ms) != 1 {
			t.Errorf("members of the raced group = %v, %v; want the owner alone", ms, err)
		}
		// And one subgroup path.
		errs = race(n, func(i int) error {
			sub := newGroup(caseVariant("racers/sub", i), g.ID, owner)
			return s.CreateGroup(ctx, &sub, tokens.GroupMember{UserID: owner.ID, AccessLevel: tokens.Owner})
		})
		wantOneWinner(t, errs, tokens.ErrConflict)
		if subs, err := s.ListSubgroups(ctx, g.ID); err != nil || len(subs) != 1 {
			t.Errorf("subgroups = %v, %v; want one", subs, err)
		}
	})

	t.Run("a group and a user", func(t *testing.T) {
		for i := range 10 {
			name := fmt.Sprintf("name%d", i)
			errs := race(2, func(j int) error {
				if j == 0 {
					g := newGroup(name, 0, owner)
					return s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: owner.ID, AccessLevel: tokens.Owner})
				}
				u := tokens.User{Username: strings.ToUpper(name)}
				return s.CreateUser(ctx, &u)
			})
			wantOneWinner(t, errs, tokens.ErrConflict)
		}
	})

	t.Run("a group and a project at one path", func(t *testing.T) {
		parent := mustGroup(t, s, "both", tokens.Group{}, owner)
		for i := range 10 {
			path := fmt.Sprintf("both/x%d", i)
			errs := race(2, func(j int) error {
				if j == 0 {
					g := newGroup(path, parent.ID, owner)
					return s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: owner.ID, AccessLevel: tokens.Owner})
				}
				p := newProjectIn(strings.ToUpper(path), parent.ID, owner)
				return s.CreateProject(ctx, &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner})
			})
			wantOneWinner(t, errs, tokens.ErrConflict)
		}
	})

	// A delete and a create into the group: either the group goes and the
	// create finds no group, or the create lands and the delete finds the
	// group not empty. Never a project or subgroup in a deleted group.
	for _, tt := range []struct {
		name   string
		create func(g tokens.Group) error
		find   func(g tokens.Group) error
	}{
		{"a group deleted while a project is created in it",
			func(g tokens.Group) error {
				p := newProjectIn(g.FullPath+"/app", g.ID, owner)
				return s.CreateProject(ctx, &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner})
			},
			func(g tokens.Group) error { _, err := s.ProjectByPath(ctx, g.FullPath+"/app"); return err }},
		{"a group deleted while a subgroup is created in it",
			func(g tokens.Group) error {
				sub := newGroup(g.FullPath+"/sub", g.ID, owner)
				return s.CreateGroup(ctx, &sub, tokens.GroupMember{UserID: owner.ID, AccessLevel: tokens.Owner})
			},
			func(g tokens.Group) error { _, err := s.GroupByPath(ctx, g.FullPath+"/sub"); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			top := mustGroup(t, s, strings.ReplaceAll(tt.name, " ", "-"), tokens.Group{}, owner)
			for i := range 20 {
				g := mustGroup(t, s, fmt.Sprintf("%s/g%d", top.FullPath, i), top, owner)
				var errDelete, errCreate error
				race(2, func(j int) error {
					if j == 0 {
						errDelete = s.DeleteGroup(ctx, g.ID)
					} else {
						errCreate = tt.create(g)
					}
					return nil
				})
				if (errDelete == nil) == (errCreate == nil) {
					t.Fatalf("round %d: delete %v, create %v; want exactly one to succeed", i, errDelete, errCreate)
				}
				_, errGroup := s.Group(ctx, g.ID)
				errFound := tt.find(g)
				if errDelete == nil {
					wantErr(t, "the create's error", errCreate, tokens.ErrNotFound)
					wantErr(t, "the group after its delete", errGroup, tokens.ErrNotFound)
					wantErr(t, "what the create would have made", errFound, tokens.ErrNotFound)
				} else {
					wantErr(t, "the delete's error", errDelete, tokens.ErrNotEmpty)
					if errGroup != nil || errFound != nil {
						t.Errorf("after the create won: group %v, its content %v", errGroup, errFound)
					}
				}
			}
		})
	}
}

// wantOneWinner checks that exactly one of errs is nil and the others are
// loser.
func wantOneWinner(t *testing.T, errs []error, loser error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("error %v, want nil or %v", err, loser)
		}
	}
	if wins != 1 {
		t.Errorf("%d writes succeeded, want exactly 1", wins)
	}
}

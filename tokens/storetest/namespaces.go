package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// testSetProjectNamespace: a project stored before groups existed moves
// into the group at its namespace, and into no other.
func testSetProjectNamespace(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	legacy := mustProject(t, s, "corp/team/app", alice) // NamespaceID 0
	corp := mustGroup(t, s, "Corp", tokens.Group{}, alice)
	team := mustGroup(t, s, "Corp/TEAM", corp, alice)
	other := mustGroup(t, s, "other", tokens.Group{}, alice)
	for _, tc := range []struct {
		name           string
		project, group int64
	}{
		{"a group above the namespace", legacy.ID, corp.ID},
		{"another group", legacy.ID, other.ID},
		{"no such group", legacy.ID, other.ID + 100},
		{"no such project", legacy.ID + 100, team.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "SetProjectNamespace", s.SetProjectNamespace(ctx, tc.project, tc.group), tokens.ErrNotFound)
			p, err := s.Project(ctx, legacy.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, "project after a refused move", p, legacy)
		})
	}
	for i := range 2 { // the second time changes nothing
		if err := s.SetProjectNamespace(ctx, legacy.ID, team.ID); err != nil {
			t.Fatalf("SetProjectNamespace #%d: %v", i+1, err)
		}
		p, err := s.Project(ctx, legacy.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := legacy
		want.NamespaceID = team.ID
		wantEqual(t, "moved project", p, want)
		ps, err := s.ListGroupProjects(ctx, team.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "the group's projects", ps, []tokens.Project{want})
	}
	wantErr(t, "DeleteGroup of the group now holding it", s.DeleteGroup(ctx, team.ID), tokens.ErrNotEmpty)

	// A move and a delete of the group at once: exactly one wins, and a
	// group never holds a project after it is gone.
	for i := range 10 {
		p := mustProject(t, s, fmt.Sprintf("race%d/app", i), alice)
		g := mustGroup(t, s, fmt.Sprintf("race%d", i), tokens.Group{}, alice)
		errs := race(2, func(j int) error {
			if j == 0 {
				return s.SetProjectNamespace(ctx, p.ID, g.ID)
			}
			return s.DeleteGroup(ctx, g.ID)
		})
		switch {
		case errs[0] == nil && errors.Is(errs[1], tokens.ErrNotEmpty):
		case errors.Is(errs[0], tokens.ErrNotFound) && errs[1] == nil:
			if got, err := s.Project(ctx, p.ID); err != nil || got.NamespaceID != 0 {
				t.Errorf("race%d: project %+v, %v after its group was deleted", i, got, err)
			}
		default:
			t.Errorf("race%d: move %v, delete %v; want exactly one to win", i, errs[0], errs[1])
		}
	}
}

// testDeleteUserGroups: deleting a group's only owner is refused and
// changes nothing; otherwise the user's group memberships go with them.
// A user deleted while the group's other owner leaves: one wins, and the
// group keeps an owner.
func testDeleteUserGroups(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	solo := mustGroup(t, s, "solo", tokens.Group{}, alice)
	shared := mustGroup(t, s, "shared", tokens.Group{}, bob)
	if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: shared.ID, UserID: alice.ID, AccessLevel: tokens.Maintainer, CreatedAt: when}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteUser of a group's only owner", s.DeleteUser(ctx, alice.ID), tokens.ErrLastOwner)
	if _, err := s.User(ctx, alice.ID); err != nil {
		t.Errorf("refused delete removed the user: %v", err)
	}
	if ms, err := s.GroupMembershipsOf(ctx, alice.ID); err != nil || len(ms) != 2 {
		t.Errorf("refused delete left %d group memberships (%v), want 2", len(ms), err)
	}
	if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: solo.ID, UserID: bob.ID, AccessLevel: tokens.Owner, CreatedAt: when}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	for _, g := range []tokens.Group{solo, shared} {
		_, err := s.GroupMember(ctx, g.ID, alice.ID)
		wantErr(t, "deleted user's membership of "+g.FullPath, err, tokens.ErrNotFound)
		ms, err := s.ListGroupMembers(ctx, g.ID)
		if err != nil || len(ms) != 1 || ms[0].UserID != bob.ID {
			t.Errorf("members of %s after delete: %+v, %v; want bob alone", g.FullPath, ms, err)
		}
	}
	if ms, err := s.GroupMembershipsOf(ctx, alice.ID); err != nil || len(ms) != 0 {
		t.Errorf("deleted user's group memberships: %v, %v", ms, err)
	}

	for i := range 10 {
		carol, dave := mustUser(t, s, fmt.Sprintf("carol%d", i)), mustUser(t, s, fmt.Sprintf("dave%d", i))
		g := mustGroup(t, s, fmt.Sprintf("g%d", i), tokens.Group{}, carol)
		if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: g.ID, UserID: dave.ID, AccessLevel: tokens.Owner, CreatedAt: when}); err != nil {
			t.Fatal(err)
		}
		race(2, func(j int) error {
			if j == 0 {
				return s.DeleteUser(ctx, carol.ID)
			}
			return s.DeleteGroupMember(ctx, g.ID, dave.ID)
		})
		ms, err := s.ListGroupMembers(ctx, g.ID)
		if err != nil || len(ms) != 1 || ms[0].AccessLevel != tokens.Owner {
			t.Errorf("g%d after the race: %+v, %v; want one owner", i, ms, err)
		}
	}
}

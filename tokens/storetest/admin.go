package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

func mustPAT(t *testing.T, s tokens.Store, u tokens.User, secret string) tokens.PersonalAccessToken {
	t.Helper()
	p := tokens.PersonalAccessToken{UserID: u.ID, Name: "pat " + secret, Scopes: []string{tokens.ScopeAPI}, CreatedAt: when, Digest: digest(secret)}
	if err := s.CreatePAT(t.Context(), &p); err != nil {
		t.Fatalf("CreatePAT: %v", err)
	}
	return p
}

func usernames(us []tokens.User) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.Username)
	}
	return out
}

func patIDs(ts []tokens.PersonalAccessToken) []int64 {
	out := []int64{}
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func testListUsers(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	for _, name := range []string{"alice", "Bob", "carol", "dave", "erin"} {
		mustUser(t, s, name)
	}
	carol, err := s.UserByUsername(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	// mustUser names everyone "Name of <username>".
	for _, name := range []string{"dave", "erin"} {
		u, err := s.UserByUsername(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetUserBlocked(ctx, u.ID, true); err != nil {
			t.Fatalf("SetUserBlocked(%s): %v", name, err)
		}
	}
	// Blocking twice, and unblocking who is not blocked, change nothing.
	if err := s.SetUserBlocked(ctx, carol.ID, false); err != nil {
		t.Fatalf("unblock an active user: %v", err)
	}
	if u, _ := s.UserByUsername(ctx, "erin"); true {
		if err := s.SetUserBlocked(ctx, u.ID, true); err != nil {
			t.Fatalf("block a blocked user: %v", err)
		}
	}
	wantErr(t, "SetUserBlocked of a missing user", s.SetUserBlocked(ctx, 99999, true), tokens.ErrNotFound)

	page := func(off, lim int) tokens.Page { return tokens.Page{Offset: off, Limit: lim} }
	tests := []struct {
		name      string
		q         tokens.UserQuery
		want      []string
		wantTotal int
	}{
		{"all", tokens.UserQuery{Page: page(0, 20)}, []string{"alice", "Bob", "carol", "dave", "erin"}, 5},
		{"second page", tokens.UserQuery{Page: page(2, 2)}, []string{"carol", "dave"}, 5},
		{"past the end", tokens.UserQuery{Page: page(10, 2)}, []string{}, 5},
		{"username in another case", tokens.UserQuery{Page: page(0, 20), Username: "BOB"}, []string{"Bob"}, 1},
		{"username missing", tokens.UserQuery{Page: page(0, 20), Username: "zed"}, []string{}, 0},
		{"username not blocked", tokens.UserQuery{Page: page(0, 20), Username: "alice", Blocked: true}, []string{}, 0},
		{"blocked", tokens.UserQuery{Page: page(0, 20), Blocked: true}, []string{"dave", "erin"}, 2},
		{"blocked second page", tokens.UserQuery{Page: page(1, 1), Blocked: true}, []string{"erin"}, 2},
		{"search by username", tokens.UserQuery{Page: page(0, 20), Search: "AR"}, []string{"carol"}, 1},
		{"search by name", tokens.UserQuery{Page: page(0, 20), Search: "name of b"}, []string{"Bob"}, 1},
		{"search paged", tokens.UserQuery{Page: page(1, 2), Search: "name of"}, []string{"Bob", "carol"}, 5},
		{"search blocked", tokens.UserQuery{Page: page(0, 20), Search: "e", Blocked: true}, []string{"dave", "erin"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.ListUsers(ctx, tt.q)
			if err != nil {
				t.Fatalf("ListUsers: %v", err)
			}
			wantEqual(t, "users", usernames(got), tt.want)
			if total != tt.wantTotal {
				t.Errorf("total %d, want %d", total, tt.wantTotal)
			}
		})
	}

	// The state is on the record, and on what a token lookup answers.
	dave, _ := s.UserByUsername(ctx, "dave")
	if !dave.Blocked {
		t.Error("blocked user reads as active")
	}
	pat := mustPAT(t, s, dave, "dave's")
	if _, u, err := s.PATByDigest(ctx, pat.Digest); err != nil || !u.Blocked {
		t.Errorf("PATByDigest of a blocked user's token: user %+v, %v; want blocked", u, err)
	}
	if err := s.SetUserBlocked(ctx, dave.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, u, err := s.PATByDigest(ctx, pat.Digest); err != nil || u.Blocked {
		t.Errorf("PATByDigest after unblocking: user %+v, %v; want active", u, err)
	}
	if got, total, err := s.ListUsers(ctx, tokens.UserQuery{Page: page(0, 20), Blocked: true}); err != nil || total != 1 || len(got) != 1 {
		t.Errorf("blocked after unblocking dave: %v (total %d), %v; want erin", usernames(got), total, err)
	}
}

func testListPATs(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	var all, ofAlice []int64
	for i := range 5 {
		u := alice
		if i%2 == 1 {
			u = bob
		}
		p := mustPAT(t, s, u, fmt.Sprint("secret ", i))
		all = append(all, p.ID)
		if u.ID == alice.ID {
			ofAlice = append(ofAlice, p.ID)
		}
	}
	tests := []struct {
		name      string
		q         tokens.PATQuery
		want      []int64
		wantTotal int
	}{
		{"all", tokens.PATQuery{Page: tokens.Page{Limit: 20}}, all, 5},
		{"page of all", tokens.PATQuery{Page: tokens.Page{Offset: 1, Limit: 3}}, all[1:4], 5},
		{"one user's", tokens.PATQuery{Page: tokens.Page{Limit: 20}, UserID: alice.ID}, ofAlice, 3},
		{"page of one user's", tokens.PATQuery{Page: tokens.Page{Offset: 2, Limit: 2}, UserID: alice.ID}, ofAlice[2:], 3},
		{"a user without tokens", tokens.PATQuery{Page: tokens.Page{Limit: 20}, UserID: 99999}, []int64{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.ListPATs(ctx, tt.q)
			if err != nil {
				t.Fatalf("ListPATs: %v", err)
			}
			wantEqual(t, "token IDs", patIDs(got), tt.want)
			if total != tt.wantTotal {
				t.Errorf("total %d, want %d", total, tt.wantTotal)
			}
		})
	}
	got, _, err := s.ListPATs(ctx, tokens.PATQuery{Page: tokens.Page{Limit: 1}})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListPATs: %v, %v", got, err)
	}
	want, _ := s.PAT(ctx, all[0])
	wantEqual(t, "listed token", got[0], want)
}

func testRotatePAT(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	old := mustPAT(t, s, alice, "old")
	expires := when.Add(7 * 24 * time.Hour)
	next := tokens.PersonalAccessToken{UserID: alice.ID, Name: old.Name, Scopes: old.Scopes, ExpiresAt: &expires, CreatedAt: when, Digest: digest("new")}

	wrongUser := next
	wrongUser.UserID, wrongUser.Digest = bob.ID, digest("wrong user")
	wantErr(t, "RotatePAT as another user", s.RotatePAT(ctx, old.ID, &wrongUser), tokens.ErrNotFound)
	missing := next
	missing.Digest = digest("missing")
	wantErr(t, "RotatePAT of a missing token", s.RotatePAT(ctx, 99999, &missing), tokens.ErrNotFound)

	if err := s.RotatePAT(ctx, old.ID, &next); err != nil {
		t.Fatalf("RotatePAT: %v", err)
	}
	if next.ID == 0 || next.ID == old.ID {
		t.Fatalf("rotated token ID %d", next.ID)
	}
	if got, err := s.PAT(ctx, old.ID); err != nil || !got.Revoked {
		t.Errorf("old token after rotation: %+v, %v; want revoked", got, err)
	}
	if got, _, err := s.PATByDigest(ctx, digest("new")); err != nil {
		t.Errorf("new token by digest: %v", err)
	} else {
		wantEqual(t, "new token", got, next)
	}
	if got, total, err := s.ListPATs(ctx, tokens.PATQuery{Page: tokens.Page{Limit: 20}, UserID: alice.ID}); err != nil || total != 2 {
		t.Errorf("alice's tokens after rotation: %v (total %d), %v; want both", patIDs(got), total, err)
	}
	again := next
	again.ID, again.Digest = 0, digest("again")
	wantErr(t, "RotatePAT of a revoked token", s.RotatePAT(ctx, old.ID, &again), tokens.ErrConflict)
	if _, _, err := s.PATByDigest(ctx, digest("again")); !errors.Is(err, tokens.ErrNotFound) {
		t.Errorf("a refused rotation stored its token: %v", err)
	}

	// Of concurrent rotations of one token exactly one wins, so a token
	// never has two successors.
	const n = 16
	racer := mustPAT(t, s, alice, "racer")
	errs := race(n, func(i int) error {
		r := tokens.PersonalAccessToken{UserID: alice.ID, Name: "racer", Scopes: racer.Scopes, CreatedAt: when, Digest: digest(fmt.Sprint("successor ", i))}
		return s.RotatePAT(context.WithoutCancel(ctx), racer.ID, &r)
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, tokens.ErrConflict):
			t.Errorf("concurrent rotation: %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent rotations succeeded, want exactly 1", wins)
	}
	if _, total, err := s.ListPATs(ctx, tokens.PATQuery{Page: tokens.Page{Limit: 100}, UserID: alice.ID}); err != nil || total != 4 {
		t.Errorf("alice has %d tokens after the race (%v), want 4", total, err)
	}
}

func testDeleteUser(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	solo := mustProject(t, s, "alice/solo", alice)
	shared := mustProject(t, s, "bob/shared", bob)
	if err := s.PutMember(ctx, tokens.Member{ProjectID: shared.ID, UserID: alice.ID, AccessLevel: tokens.Developer, CreatedAt: when}); err != nil {
		t.Fatal(err)
	}
	pat := mustPAT(t, s, alice, "alice's")
	deploy := mustDeployToken(t, s, shared, "alice made it")
	if err := s.SetUserBlocked(ctx, alice.ID, true); err != nil {
		t.Fatal(err)
	}

	// The only owner of solo: nothing changes.
	wantErr(t, "DeleteUser of an only owner", s.DeleteUser(ctx, alice.ID), tokens.ErrLastOwner)
	if _, err := s.User(ctx, alice.ID); err != nil {
		t.Errorf("refused delete removed the user: %v", err)
	}
	if _, _, err := s.PATByDigest(ctx, pat.Digest); err != nil {
		t.Errorf("refused delete removed a token: %v", err)
	}
	if ms, _ := s.MembershipsOf(ctx, alice.ID); len(ms) != 2 {
		t.Errorf("refused delete left %d memberships, want 2", len(ms))
	}

	if err := s.PutMember(ctx, tokens.Member{ProjectID: solo.ID, UserID: bob.ID, AccessLevel: tokens.Owner, CreatedAt: when}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	wantErr(t, "DeleteUser twice", s.DeleteUser(ctx, alice.ID), tokens.ErrNotFound)
	_, err := s.User(ctx, alice.ID)
	wantErr(t, "deleted user", err, tokens.ErrNotFound)
	_, err = s.UserByUsername(ctx, "alice")
	wantErr(t, "deleted user by username", err, tokens.ErrNotFound)
	_, _, err = s.PATByDigest(ctx, pat.Digest)
	wantErr(t, "deleted user's token", err, tokens.ErrNotFound)
	_, err = s.PAT(ctx, pat.ID)
	wantErr(t, "deleted user's token by id", err, tokens.ErrNotFound)
	for _, p := range []tokens.Project{solo, shared} {
		_, err = s.Member(ctx, p.ID, alice.ID)
		wantErr(t, "deleted user's membership of "+p.PathWithNamespace, err, tokens.ErrNotFound)
	}
	if ms, err := s.MembershipsOf(ctx, alice.ID); err != nil || len(ms) != 0 {
		t.Errorf("deleted user's memberships: %v, %v", ms, err)
	}
	if got, total, err := s.ListUsers(ctx, tokens.UserQuery{Page: tokens.Page{Limit: 20}}); err != nil || total != 1 || !slices.Equal(usernames(got), []string{"bob"}) {
		t.Errorf("users after delete: %v (total %d), %v; want bob", usernames(got), total, err)
	}
	if _, total, err := s.ListUsers(ctx, tokens.UserQuery{Page: tokens.Page{Limit: 20}, Blocked: true}); err != nil || total != 0 {
		t.Errorf("blocked users after delete: %d, %v; want none", total, err)
	}
	if _, total, err := s.ListPATs(ctx, tokens.PATQuery{Page: tokens.Page{Limit: 20}}); err != nil || total != 0 {
		t.Errorf("tokens after delete: %d, %v; want none", total, err)
	}
	// Deploy tokens belong to their project, not to who made them.
	if _, _, err := s.DeployTokenByDigest(ctx, deploy.Digest); err != nil {
		t.Errorf("deploy token of a deleted user: %v", err)
	}
	// The username is free again.
	again := tokens.User{Username: "Alice", CreatedAt: when}
	if err := s.CreateUser(ctx, &again); err != nil {
		t.Errorf("CreateUser with a deleted user's name: %v", err)
	}
	if again.ID == alice.ID {
		t.Error("a new user got a deleted user's ID")
	}
}

// testDeleteUserRace deletes one of a project's two owners while the other
// leaves: whichever runs first wins, and the project keeps an owner.
func testDeleteUserRace(t *testing.T, s tokens.Store) {
	ctx := context.WithoutCancel(t.Context())
	for i := range 8 {
		a, b := mustUser(t, s, fmt.Sprint("a", i)), mustUser(t, s, fmt.Sprint("b", i))
		p := mustProject(t, s, fmt.Sprint("a", i, "/p"), a)
		if err := s.PutMember(ctx, tokens.Member{ProjectID: p.ID, UserID: b.ID, AccessLevel: tokens.Owner, CreatedAt: when}); err != nil {
			t.Fatal(err)
		}
		errs := race(2, func(i int) error {
			if i == 0 {
				return s.DeleteUser(ctx, a.ID)
			}
			return s.DeleteMember(ctx, p.ID, b.ID)
		})
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, tokens.ErrLastOwner):
				t.Errorf("round %d: %v, want nil or ErrLastOwner", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("round %d: %d of delete user and leave succeeded, want 1", i, wins)
		}
		ms, err := s.ListMembers(ctx, p.ID)
		if err != nil || len(ms) != 1 || ms[0].AccessLevel != tokens.Owner {
			t.Errorf("round %d: members after the race %+v, %v; want one owner", i, ms, err)
		}
	}
}

func testUpdateProject(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	p := mustProject(t, s, "owner/app", owner)
	d := mustDeployToken(t, s, p, "deploy")
	tests := []struct {
		name   string
		change tokens.ProjectChange
		want   func(p *tokens.Project)
	}{
		{"name", tokens.ProjectChange{Name: "My App"}, func(p *tokens.Project) { p.Name = "My App" }},
		{"visibility", tokens.ProjectChange{Visibility: tokens.Public}, func(p *tokens.Project) { p.Visibility = tokens.Public }},
		{"both", tokens.ProjectChange{Name: "App", Visibility: tokens.Internal}, func(p *tokens.Project) { p.Name, p.Visibility = "App", tokens.Internal }},
		{"nothing", tokens.ProjectChange{}, func(*tokens.Project) {}},
	}
	want := p
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want(&want)
			got, err := s.UpdateProject(ctx, p.ID, tt.change)
			if err != nil {
				t.Fatalf("UpdateProject: %v", err)
			}
			wantEqual(t, "answered project", got, want)
			read, err := s.Project(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, "stored project", read, want)
			if _, dp, err := s.DeployTokenByDigest(ctx, d.Digest); err != nil {
				t.Fatal(err)
			} else {
				wantEqual(t, "deploy token's project", dp, want)
			}
		})
	}
	_, err := s.UpdateProject(ctx, 99999, tokens.ProjectChange{Name: "x"})
	wantErr(t, "UpdateProject of a missing project", err, tokens.ErrNotFound)
}

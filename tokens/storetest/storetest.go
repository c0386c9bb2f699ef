package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// Dumper is implemented by stores that can answer every key and value they
// hold, so the suite can check that no plaintext secret is stored.
type Dumper interface {
	// Dump answers every key with its value flattened to bytes.
	Dump(ctx context.Context) (map[string][]byte, error)
}

// Run runs the conformance suite. newStore answers an empty store for one
// subtest and arranges for it to be closed when that subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) tokens.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s tokens.Store)
	}{
		{"Ping", testPing},
		{"Users", testUsers},
		{"PersonalAccessTokens", testPATs},
		{"Projects", testProjects},
		{"NestedProjects", testNestedProjects},
		{"DeleteProject", testDeleteProject},
		{"Members", testMembers},
		{"DeployTokens", testDeployTokens},
		{"DeployTokenForAuth", testDeployTokenForAuth},
		{"KV", testKV},
		{"KVExpiry", testKVExpiry},
		{"ConcurrentUniqueness", testConcurrentUniqueness},
		{"ConcurrentKV", testConcurrentKV},
		{"Strike", testStrike},
		{"DeadPaths", testDeadPaths},
		{"DeleteProjectReserving", testDeleteProjectReserving},
		{"NoPlaintextSecrets", testNoPlaintextSecrets},
		{"ListUsers", testListUsers},
		{"ListPATs", testListPATs},
		{"RotatePAT", testRotatePAT},
		{"DeleteUser", testDeleteUser},
		{"DeleteUserRace", testDeleteUserRace},
		{"UpdateProject", testUpdateProject},
		{"Groups", testGroups},
		{"ListGroups", testListGroups},
		{"GroupMembers", testGroupMembers},
		{"GroupDeployTokens", testGroupDeployTokens},
		{"GroupRaces", testGroupRaces},
		{"SetProjectNamespace", testSetProjectNamespace},
		{"DeleteUserGroups", testDeleteUserGroups},
		{"Pages", testPages},
		{"PageGroups", testPageGroups},
		{"ProjectsByPaths", testProjectsByPaths},
		{"PATForAuth", testPATForAuth},
		{"ProjectPages", testProjectPages},
		{"RotateDeployToken", testRotateDeployToken},
		{"RotatePATWithGrace", testRotatePATWithGrace},
		{"RecordLastUses", testRecordLastUses},
		{"AuditEvents", testAuditEvents},
		{"Hooks", testHooks},
		{"Deliveries", testDeliveries},
		{"FederatedIdentities", testFederatedIdentities},
		{"DecoyHidden", testDecoyHidden},
		{"DeployTokensExpiring", testDeployTokensExpiring},
		{"TokenUsernames", testTokenUsernames},
		{"ActivePages", testActivePages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// when is a creation time with nanoseconds and a zone offset, so a store
// that loses either fails.
var when = time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.FixedZone("", 3600))

// digest stands in for the keyed digest of a secret.
func digest(secret string) []byte {
	d := sha256.Sum256([]byte(secret))
	return d[:]
}

func ptr[T any](v T) *T { return &v }

func testPing(t *testing.T, s tokens.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func mustUser(t *testing.T, s tokens.Store, username string) tokens.User {
	t.Helper()
	u := tokens.User{Username: username, Name: "Name of " + username, CreatedAt: when}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatalf("CreateUser(%q): %v", username, err)
	}
	return u
}

func mustProject(t *testing.T, s tokens.Store, path string, owner tokens.User) tokens.Project {
	t.Helper()
	p := tokens.Project{
		Path:              path[strings.LastIndex(path, "/")+1:],
		PathWithNamespace: path,
		Visibility:        tokens.Private,
		CreatorID:         owner.ID,
		CreatedAt:         when,
	}
	err := s.CreateProject(t.Context(), &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: when})
	if err != nil {
		t.Fatalf("CreateProject(%q): %v", path, err)
	}
	return p
}

func mustDeployToken(t *testing.T, s tokens.Store, p tokens.Project, secret string) tokens.DeployToken {
	t.Helper()
	d := tokens.DeployToken{
		ProjectID: p.ID,
		Name:      "deploy token",
		Scopes:    []string{tokens.ScopeReadRegistry},
		CreatedAt: when,
		CreatorID: p.CreatorID,
		Digest:    digest(secret),
	}
	if err := s.CreateDeployToken(t.Context(), &d); err != nil {
		t.Fatalf("CreateDeployToken: %v", err)
	}
	return d
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !equal(reflect.ValueOf(got), reflect.ValueOf(want)) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// equal is reflect.DeepEqual except that times are equal when they are the
// same instant and an empty slice equals a nil one.
func equal(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == timeType {
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equal(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !equal(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

func testUsers(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	alice := tokens.User{Username: "Alice", Name: "Alice A.", Admin: true, CreatedAt: when}
	if err := s.CreateUser(ctx, &alice); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if alice.ID == 0 {
		t.Fatal("CreateUser did not assign an ID")
	}
	bob := mustUser(t, s, "bob")
	if bob.ID <= alice.ID {
		t.Errorf("IDs %d then %d, want increasing", alice.ID, bob.ID)
	}

	tests := []struct {
		name    string
		get     func() (tokens.User, error)
		want    tokens.User
		wantErr error
	}{
		{"by id", func() (tokens.User, error) { return s.User(ctx, alice.ID) }, alice, nil},
		{"by username", func() (tokens.User, error) { return s.UserByUsername(ctx, "Alice") }, alice, nil},
		{"by username in other case", func() (tokens.User, error) { return s.UserByUsername(ctx, "aLICE") }, alice, nil},
		{"second user", func() (tokens.User, error) { return s.UserByUsername(ctx, "BOB") }, bob, nil},
		{"missing id", func() (tokens.User, error) { return s.User(ctx, bob.ID+1000) }, tokens.User{}, tokens.ErrNotFound},
		{"missing username", func() (tokens.User, error) { return s.UserByUsername(ctx, "carol") }, tokens.User{}, tokens.ErrNotFound},
		{"username prefix", func() (tokens.User, error) { return s.UserByUsername(ctx, "Alic") }, tokens.User{}, tokens.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if tt.wantErr != nil {
				wantErr(t, "lookup", err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("lookup: %v", err)
			}
			wantEqual(t, "user", got, tt.want)
		})
	}

	for _, name := range []string{"Alice", "alice", "ALICE"} {
		u := tokens.User{Username: name}
		wantErr(t, "CreateUser("+name+")", s.CreateUser(ctx, &u), tokens.ErrConflict)
	}
}

func testPATs(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "pat-owner")
	expires := when.Add(30 * 24 * time.Hour)
	pat := tokens.PersonalAccessToken{
		UserID:    u.ID,
		Name:      "laptop",
		Scopes:    []string{tokens.ScopeAPI, tokens.ScopeWriteRegistry},
		ExpiresAt: &expires,
		CreatedAt: when,
		Digest:    digest("pat-secret-1"),
	}
	if err := s.CreatePAT(ctx, &pat); err != nil {
		t.Fatalf("CreatePAT: %v", err)
	}
	if pat.ID == 0 {
		t.Fatal("CreatePAT did not assign an ID")
	}
	revoked := tokens.PersonalAccessToken{UserID: u.ID, Name: "old", Revoked: true, CreatedAt: when, Digest: digest("pat-secret-2")}
	if err := s.CreatePAT(ctx, &revoked); err != nil {
		t.Fatalf("CreatePAT: %v", err)
	}

	t.Run("by digest", func(t *testing.T) {
		for _, want := range []tokens.PersonalAccessToken{pat, revoked} {
			got, gotUser, err := s.PATByDigest(ctx, want.Digest)
			if err != nil {
				t.Fatalf("PATByDigest: %v", err)
			}
			wantEqual(t, "token", got, want)
			wantEqual(t, "user", gotUser, u)
		}
	})
	t.Run("unknown digest", func(t *testing.T) {
		_, _, err := s.PATByDigest(ctx, digest("never stored"))
		wantErr(t, "PATByDigest", err, tokens.ErrNotFound)
	})
	t.Run("missing user", func(t *testing.T) {
		orphan := tokens.PersonalAccessToken{UserID: u.ID + 1000, Name: "x", CreatedAt: when, Digest: digest("orphan")}
		wantErr(t, "CreatePAT", s.CreatePAT(ctx, &orphan), tokens.ErrNotFound)
		_, _, err := s.PATByDigest(ctx, orphan.Digest)
		wantErr(t, "PATByDigest after failed create", err, tokens.ErrNotFound)
	})
	t.Run("duplicate digest", func(t *testing.T) {
		dup := tokens.PersonalAccessToken{UserID: u.ID, Name: "dup", CreatedAt: when, Digest: pat.Digest}
		wantErr(t, "CreatePAT", s.CreatePAT(ctx, &dup), tokens.ErrConflict)
	})
	t.Run("touch", func(t *testing.T) {
		at := when.Add(time.Hour + time.Nanosecond)
		if err := s.TouchPAT(ctx, pat.ID, at); err != nil {
			t.Fatalf("TouchPAT: %v", err)
		}
		got, _, err := s.PATByDigest(ctx, pat.Digest)
		if err != nil {
			t.Fatalf("PATByDigest: %v", err)
		}
		want := pat
		want.LastUsedAt = &at
		wantEqual(t, "touched token", got, want)
		wantErr(t, "TouchPAT(missing)", s.TouchPAT(ctx, revoked.ID+1000, at), tokens.ErrNotFound)
	})
	t.Run("by id and revoke", func(t *testing.T) {
		other := tokens.PersonalAccessToken{UserID: u.ID, Name: "to revoke", Scopes: []string{tokens.ScopeReadAPI}, CreatedAt: when, Digest: digest("pat-secret-3")}
		if err := s.CreatePAT(ctx, &other); err != nil {
			t.Fatalf("CreatePAT: %v", err)
		}
		got, err := s.PAT(ctx, other.ID)
		if err != nil {
			t.Fatalf("PAT: %v", err)
		}
		wantEqual(t, "token by id", got, other)
		for range 2 { // revoking a revoked token is not an error
			if err := s.RevokePAT(ctx, other.ID); err != nil {
				t.Fatalf("RevokePAT: %v", err)
			}
		}
		want := other
		want.Revoked = true
		got, _, err = s.PATByDigest(ctx, other.Digest)
		if err != nil {
			t.Fatalf("PATByDigest: %v", err)
		}
		wantEqual(t, "revoked token", got, want)
		if got, err := s.PAT(ctx, pat.ID); err != nil || got.Revoked {
			t.Errorf("another token: %+v, %v; want it untouched", got, err)
		}
		_, err = s.PAT(ctx, other.ID+1000)
		wantErr(t, "PAT(missing)", err, tokens.ErrNotFound)
		wantErr(t, "RevokePAT(missing)", s.RevokePAT(ctx, other.ID+1000), tokens.ErrNotFound)
	})
}

func testProjects(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	p := mustProject(t, s, "Group/Web-App", owner)
	if p.ID == 0 {
		t.Fatal("CreateProject did not assign an ID")
	}
	q := mustProject(t, s, "group/api", owner)

	tests := []struct {
		name    string
		get     func() (tokens.Project, error)
		want    tokens.Project
		wantErr error
	}{
		{"by id", func() (tokens.Project, error) { return s.Project(ctx, p.ID) }, p, nil},
		{"by path", func() (tokens.Project, error) { return s.ProjectByPath(ctx, "Group/Web-App") }, p, nil},
		{"by path in other case", func() (tokens.Project, error) { return s.ProjectByPath(ctx, "group/web-app") }, p, nil},
		{"missing id", func() (tokens.Project, error) { return s.Project(ctx, q.ID+1000) }, tokens.Project{}, tokens.ErrNotFound},
		{"missing path", func() (tokens.Project, error) { return s.ProjectByPath(ctx, "group/none") }, tokens.Project{}, tokens.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if tt.wantErr != nil {
				wantErr(t, "lookup", err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("lookup: %v", err)
			}
			wantEqual(t, "project", got, tt.want)
		})
	}

	t.Run("owner member", func(t *testing.T) {
		m, err := s.Member(ctx, p.ID, owner.ID)
		if err != nil {
			t.Fatalf("Member: %v", err)
		}
		wantEqual(t, "owner", m, tokens.Member{ProjectID: p.ID, UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: when})
	})
	t.Run("path conflict", func(t *testing.T) {
		for _, path := range []string{"Group/Web-App", "GROUP/WEB-APP", "group/web-app"} {
			dup := tokens.Project{Path: "x", PathWithNamespace: path, Visibility: tokens.Public}
			wantErr(t, "CreateProject("+path+")", s.CreateProject(ctx, &dup, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner}), tokens.ErrConflict)
		}
	})
	t.Run("missing owner", func(t *testing.T) {
		orphan := tokens.Project{Path: "orphan", PathWithNamespace: "group/orphan", Visibility: tokens.Public}
		err := s.CreateProject(ctx, &orphan, tokens.Member{UserID: owner.ID + 1000, AccessLevel: tokens.Owner})
		wantErr(t, "CreateProject", err, tokens.ErrNotFound)
		_, err = s.ProjectByPath(ctx, "group/orphan")
		wantErr(t, "ProjectByPath after failed create", err, tokens.ErrNotFound)
	})
	t.Run("list", func(t *testing.T) {
		got, err := s.ListProjects(ctx)
		if err != nil {
			t.Fatalf("ListProjects: %v", err)
		}
		wantEqual(t, "projects", got, []tokens.Project{p, q})
	})
}

// testNestedProjects: no project's path holds another's, in any case, and
// the store itself refuses it, so two creates racing cannot both win.
func testNestedProjects(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	create := func(path string) error {
		p := tokens.Project{Path: path[strings.LastIndex(path, "/")+1:], PathWithNamespace: path, Visibility: tokens.Private}
		return s.CreateProject(ctx, &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner})
	}
	app := mustProject(t, s, "Group/Web-App", owner)
	// Siblings whose paths start alike, '-' '.' and '0' around '/'.
	for _, path := range []string{"group/web-app0", "group/web-app-x", "group/web-app.x", "group/web", "group2/web-app/x"} {
		if err := create(path); err != nil {
			t.Errorf("CreateProject(%s) beside group/web-app: %v", path, err)
		}
	}
	for _, path := range []string{"group", "GROUP/WEB-APP/sub", "group/web-app/a/b"} {
		wantErr(t, "CreateProject("+path+")", create(path), tokens.ErrNested)
		_, err := s.ProjectByPath(ctx, path)
		wantErr(t, "ProjectByPath("+path+") after the refusal", err, tokens.ErrNotFound)
	}
	if err := s.DeleteProject(ctx, app.ID); err != nil {
		t.Fatalf("DeleteProject: %v", err)
	}
	if err := create("group/web-app/sub"); err != nil {
		t.Errorf("CreateProject(group/web-app/sub) once group/web-app is gone: %v", err)
	}
	wantErr(t, "CreateProject(Group/Web-App) above group/web-app/sub", create("Group/Web-App"), tokens.ErrNested)

	t.Run("racing", func(t *testing.T) {
		for i := range 20 {
			outer, inner := fmt.Sprintf("race%d/p", i), fmt.Sprintf("race%d/p/q", i)
			var errOuter, errInner error
			var wg sync.WaitGroup
			wg.Go(func() { errOuter = create(outer) })
			wg.Go(func() { errInner = create(inner) })
			wg.Wait()
			if (errOuter == nil) == (errInner == nil) {
				t.Fatalf("%s and %s created at once: %v, %v; want exactly one", outer, inner, errOuter, errInner)
			}
			for _, err := range []error{errOuter, errInner} {
				if err != nil && !errors.Is(err, tokens.ErrNested) {
					t.Errorf("the loser's error: %v, want ErrNested", err)
				}
			}
		}
	})
}

func testDeleteProject(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	dev := mustUser(t, s, "dev")
	doomed := mustProject(t, s, "group/doomed", owner)
	kept := mustProject(t, s, "group/kept", owner)
	for _, p := range []tokens.Project{doomed, kept} {
		if err := s.PutMember(ctx, tokens.Member{ProjectID: p.ID, UserID: dev.ID, AccessLevel: tokens.Developer}); err != nil {
			t.Fatalf("PutMember: %v", err)
		}
	}
	gone := mustDeployToken(t, s, doomed, "doomed-1")
	gone2 := mustDeployToken(t, s, doomed, "doomed-2")
	stays := mustDeployToken(t, s, kept, "kept-1")

	if err := s.DeleteProject(ctx, doomed.ID); err != nil {
		t.Fatalf("DeleteProject: %v", err)
	}

	_, err := s.Project(ctx, doomed.ID)
	wantErr(t, "Project", err, tokens.ErrNotFound)
	_, err = s.ProjectByPath(ctx, doomed.PathWithNamespace)
	wantErr(t, "ProjectByPath", err, tokens.ErrNotFound)
	for _, d := range []tokens.DeployToken{gone, gone2} {
		_, _, err = s.DeployTokenByDigest(ctx, d.Digest)
		wantErr(t, "DeployTokenByDigest", err, tokens.ErrNotFound)
		_, err = s.DeployToken(ctx, doomed.ID, d.ID)
		wantErr(t, "DeployToken", err, tokens.ErrNotFound)
	}
	_, err = s.Member(ctx, doomed.ID, dev.ID)
	wantErr(t, "Member", err, tokens.ErrNotFound)
	wantErr(t, "DeleteProject again", s.DeleteProject(ctx, doomed.ID), tokens.ErrNotFound)

	if got, err := s.ListMembers(ctx, doomed.ID); err != nil || len(got) != 0 {
		t.Errorf("ListMembers = %v, %v; want none", got, err)
	}
	if got, err := s.ListDeployTokens(ctx, doomed.ID); err != nil || len(got) != 0 {
		t.Errorf("ListDeployTokens = %v, %v; want none", got, err)
	}
	projects, err := s.ListProjects(ctx)
	if err != nil {
		t.Fatalf("ListProjects: %v", err)
	}
	wantEqual(t, "projects", projects, []tokens.Project{kept})
	ms, err := s.MembershipsOf(ctx, dev.ID)
	if err != nil {
		t.Fatalf("MembershipsOf: %v", err)
	}
	wantEqual(t, "memberships", ms, []tokens.Member{{ProjectID: kept.ID, UserID: dev.ID, AccessLevel: tokens.Developer}})
	all, err := s.ListAllDeployTokens(ctx)
	if err != nil {
		t.Fatalf("ListAllDeployTokens: %v", err)
	}
	wantEqual(t, "all tokens", all, []tokens.DeployToken{stays})
	if _, _, err := s.DeployTokenByDigest(ctx, stays.Digest); err != nil {
		t.Errorf("DeployTokenByDigest(kept): %v", err)
	}

	// The path is free again, and a new project there does not inherit
	// anything of the deleted one.
	again := mustProject(t, s, "Group/Doomed", dev)
	if again.ID == doomed.ID {
		t.Errorf("new project reused ID %d", again.ID)
	}
	if got, err := s.ListDeployTokens(ctx, again.ID); err != nil || len(got) != 0 {
		t.Errorf("ListDeployTokens(new) = %v, %v; want none", got, err)
	}
	// A deleted token's digest may be stored again.
	reborn := mustDeployToken(t, s, again, "doomed-1")
	gotToken, gotProject, err := s.DeployTokenByDigest(ctx, reborn.Digest)
	if err != nil {
		t.Fatalf("DeployTokenByDigest(reborn): %v", err)
	}
	wantEqual(t, "reborn token", gotToken, reborn)
	wantEqual(t, "reborn project", gotProject, again)
}

func testMembers(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	dev := mustUser(t, s, "dev")
	guest := mustUser(t, s, "guest")
	p := mustProject(t, s, "group/one", owner)
	q := mustProject(t, s, "group/two", dev)

	puts := []struct {
		name    string
		m       tokens.Member
		wantErr error
	}{
		{"add developer", tokens.Member{ProjectID: p.ID, UserID: dev.ID, AccessLevel: tokens.Reporter, CreatedAt: when}, nil},
		{"update developer", tokens.Member{ProjectID: p.ID, UserID: dev.ID, AccessLevel: tokens.Developer, CreatedAt: when}, nil},
		{"add guest", tokens.Member{ProjectID: p.ID, UserID: guest.ID, AccessLevel: tokens.Guest}, nil},
		{"missing project", tokens.Member{ProjectID: q.ID + 1000, UserID: dev.ID, AccessLevel: tokens.Guest}, tokens.ErrNotFound},
		{"missing user", tokens.Member{ProjectID: p.ID, UserID: guest.ID + 1000, AccessLevel: tokens.Guest}, tokens.ErrNotFound},
	}
	for _, tt := range puts {
		t.Run(tt.name, func(t *testing.T) {
			err := s.PutMember(ctx, tt.m)
			if tt.wantErr != nil {
				wantErr(t, "PutMember", err, tt.wantErr)
				_, err := s.Member(ctx, tt.m.ProjectID, tt.m.UserID)
				wantErr(t, "Member after failed put", err, tokens.ErrNotFound)
				return
			}
			if err != nil {
				t.Fatalf("PutMember: %v", err)
			}
			got, err := s.Member(ctx, tt.m.ProjectID, tt.m.UserID)
			if err != nil {
				t.Fatalf("Member: %v", err)
			}
			wantEqual(t, "member", got, tt.m)
		})
	}

	ownerOfP := tokens.Member{ProjectID: p.ID, UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: when}
	devOfP := tokens.Member{ProjectID: p.ID, UserID: dev.ID, AccessLevel: tokens.Developer, CreatedAt: when}
	guestOfP := tokens.Member{ProjectID: p.ID, UserID: guest.ID, AccessLevel: tokens.Guest}
	devOfQ := tokens.Member{ProjectID: q.ID, UserID: dev.ID, AccessLevel: tokens.Owner, CreatedAt: when}

	got, err := s.ListMembers(ctx, p.ID)
	if err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	wantEqual(t, "members", got, []tokens.Member{ownerOfP, devOfP, guestOfP})
	got, err = s.MembershipsOf(ctx, dev.ID)
	if err != nil {
		t.Fatalf("MembershipsOf: %v", err)
	}
	wantEqual(t, "memberships", got, []tokens.Member{devOfP, devOfQ})

	if err := s.DeleteMember(ctx, p.ID, dev.ID); err != nil {
		t.Fatalf("DeleteMember: %v", err)
	}
	_, err = s.Member(ctx, p.ID, dev.ID)
	wantErr(t, "Member after delete", err, tokens.ErrNotFound)
	wantErr(t, "DeleteMember again", s.DeleteMember(ctx, p.ID, dev.ID), tokens.ErrNotFound)
	got, err = s.ListMembers(ctx, p.ID)
	if err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	wantEqual(t, "members after delete", got, []tokens.Member{ownerOfP, guestOfP})
	got, err = s.MembershipsOf(ctx, dev.ID)
	if err != nil {
		t.Fatalf("MembershipsOf: %v", err)
	}
	wantEqual(t, "memberships after delete", got, []tokens.Member{devOfQ})
	got, err = s.MembershipsOf(ctx, guest.ID+1000)
	if err != nil || len(got) != 0 {
		t.Errorf("MembershipsOf(unknown) = %v, %v; want none", got, err)
	}

	t.Run("a project keeps an owner", func(t *testing.T) {
		demoted := ownerOfP
		demoted.AccessLevel = tokens.Maintainer
		wantErr(t, "demote the only owner", s.PutMember(ctx, demoted), tokens.ErrLastOwner)
		wantErr(t, "remove the only owner", s.DeleteMember(ctx, p.ID, owner.ID), tokens.ErrLastOwner)
		if m, err := s.Member(ctx, p.ID, owner.ID); err != nil || m.AccessLevel != tokens.Owner {
			t.Fatalf("the only owner after refused changes: %+v, %v", m, err)
		}
		if err := s.PutMember(ctx, ownerOfP); err != nil {
			t.Errorf("rewrite the only owner as owner: %v", err)
		}
		// Two owners demote each other at once: one of them stays owner.
		r := mustProject(t, s, "group/race", owner)
		second := tokens.Member{ProjectID: r.ID, UserID: guest.ID, AccessLevel: tokens.Owner}
		if err := s.PutMember(ctx, second); err != nil {
			t.Fatalf("PutMember: %v", err)
		}
		for round := range 10 {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, uid := range []int64{owner.ID, guest.ID} {
				wg.Go(func() {
					if round%2 == 0 {
						errs[i] = s.PutMember(ctx, tokens.Member{ProjectID: r.ID, UserID: uid, AccessLevel: tokens.Maintainer})
					} else {
						errs[i] = s.DeleteMember(ctx, r.ID, uid)
					}
				})
			}
			wg.Wait()
			ms, err := s.ListMembers(ctx, r.ID)
			if err != nil {
				t.Fatalf("ListMembers: %v", err)
			}
			var owners []int64
			for _, m := range ms {
				if m.AccessLevel == tokens.Owner {
					owners = append(owners, m.UserID)
				}
			}
			if len(owners) != 1 || (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d: owners %v after %v", round, owners, errs)
			}
			for i, uid := range []int64{owner.ID, guest.ID} { // both owners again
				if errs[i] == nil {
					if err := s.PutMember(ctx, tokens.Member{ProjectID: r.ID, UserID: uid, AccessLevel: tokens.Owner}); err != nil {
						t.Fatalf("PutMember: %v", err)
					}
				} else {
					wantErr(t, "the refused one", errs[i], tokens.ErrLastOwner)
				}
			}
		}
	})
}

func testDeployTokens(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	p := mustProject(t, s, "group/registry", owner)
	q := mustProject(t, s, "group/other", owner)

	expires := when.Add(24 * time.Hour)
	a := mustDeployToken(t, s, p, "dt-a")
	b := tokens.DeployToken{
		ProjectID: q.ID,
		Name:      tokens.CITokenName,
		Username:  "Custom-User",
		Scopes:    []string{tokens.ScopeReadRepository, tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry},
		ExpiresAt: &expires,
		CreatedAt: when,
		CreatorID: owner.ID,
		Digest:    digest("dt-b"),
		CISecret:  []byte{0, 1, 2, 0xfe, 0xff, ':', '\n'},
	}
	if err := s.CreateDeployToken(ctx, &b); err != nil {
		t.Fatalf("CreateDeployToken: %v", err)
	}
	c := mustDeployToken(t, s, p, "dt-c")

	t.Run("default username", func(t *testing.T) {
		if want := tokens.DefaultDeployTokenUsername(a.ID); a.Username != want {
			t.Errorf("Username = %q, want %q", a.Username, want)
		}
		if b.Username != "Custom-User" {
			t.Errorf("Username = %q, want the chosen one", b.Username)
		}
		if !(a.ID < b.ID && b.ID < c.ID) {
			t.Errorf("IDs %d, %d, %d; want increasing", a.ID, b.ID, c.ID)
		}
	})
	t.Run("get", func(t *testing.T) {
		for _, want := range []tokens.DeployToken{a, b, c} {
			got, err := s.DeployToken(ctx, want.ProjectID, want.ID)
			if err != nil {
				t.Fatalf("DeployToken: %v", err)
			}
			wantEqual(t, "token", got, want)
		}
		_, err := s.DeployToken(ctx, q.ID, a.ID)
		wantErr(t, "DeployToken of another project", err, tokens.ErrNotFound)
		_, err = s.DeployToken(ctx, p.ID, c.ID+1000)
		wantErr(t, "DeployToken(missing)", err, tokens.ErrNotFound)
	})
	t.Run("missing project", func(t *testing.T) {
		orphan := tokens.DeployToken{ProjectID: q.ID + 1000, Name: "x", CreatedAt: when, Digest: digest("orphan")}
		wantErr(t, "CreateDeployToken", s.CreateDeployToken(ctx, &orphan), tokens.ErrNotFound)
		_, _, err := s.DeployTokenByDigest(ctx, orphan.Digest)
		wantErr(t, "DeployTokenByDigest after failed create", err, tokens.ErrNotFound)
	})
	t.Run("duplicate digest", func(t *testing.T) {
		dup := tokens.DeployToken{ProjectID: p.ID, Name: "dup", CreatedAt: when, Digest: a.Digest}
		wantErr(t, "CreateDeployToken", s.CreateDeployToken(ctx, &dup), tokens.ErrConflict)
	})
	t.Run("by digest", func(t *testing.T) {
		for _, tt := range []struct {
			token   tokens.DeployToken
			project tokens.Project
		}{{a, p}, {b, q}, {c, p}} {
			got, gotProject, err := s.DeployTokenByDigest(ctx, tt.token.Digest)
			if err != nil {
				t.Fatalf("DeployTokenByDigest: %v", err)
			}
			wantEqual(t, "token", got, tt.token)
			wantEqual(t, "project", gotProject, tt.project)
		}
		_, _, err := s.DeployTokenByDigest(ctx, digest("never stored"))
		wantErr(t, "DeployTokenByDigest(unknown)", err, tokens.ErrNotFound)
	})
	t.Run("list", func(t *testing.T) {
		got, err := s.ListDeployTokens(ctx, p.ID)
		if err != nil {
			t.Fatalf("ListDeployTokens: %v", err)
		}
		wantEqual(t, "tokens of p", got, []tokens.DeployToken{a, c})
		got, err = s.ListAllDeployTokens(ctx)
		if err != nil {
			t.Fatalf("ListAllDeployTokens: %v", err)
		}
		wantEqual(t, "all tokens", got, []tokens.DeployToken{a, b, c})
	})
	t.Run("revoke", func(t *testing.T) {
		wantErr(t, "RevokeDeployToken(other project)", s.RevokeDeployToken(ctx, q.ID, a.ID), tokens.ErrNotFound)
		wantErr(t, "RevokeDeployToken(missing)", s.RevokeDeployToken(ctx, p.ID, c.ID+1000), tokens.ErrNotFound)
		if err := s.RevokeDeployToken(ctx, p.ID, a.ID); err != nil {
			t.Fatalf("RevokeDeployToken: %v", err)
		}
		revoked := a
		revoked.Revoked = true
		got, _, err := s.DeployTokenByDigest(ctx, a.Digest)
		if err != nil {
			t.Fatalf("DeployTokenByDigest(revoked): %v", err)
		}
		wantEqual(t, "revoked token", got, revoked)
		list, err := s.ListDeployTokens(ctx, p.ID)
		if err != nil {
			t.Fatalf("ListDeployTokens: %v", err)
		}
		wantEqual(t, "tokens after revoke", list, []tokens.DeployToken{revoked, c})
		a = revoked
	})
	t.Run("touch", func(t *testing.T) {
		at := when.Add(2*time.Hour + time.Nanosecond)
		if err := s.TouchDeployToken(ctx, c.ID, at); err != nil {
			t.Fatalf("TouchDeployToken: %v", err)
		}
		want := c
		want.LastUsedAt = &at
		got, err := s.DeployToken(ctx, p.ID, c.ID)
		if err != nil {
			t.Fatalf("DeployToken: %v", err)
		}
		wantEqual(t, "touched token", got, want)
		wantErr(t, "TouchDeployToken(missing)", s.TouchDeployToken(ctx, c.ID+1000, at), tokens.ErrNotFound)
	})
}

func testKV(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	get := func(key string) ([]byte, error) { return s.Get(ctx, key) }

	tests := []struct {
		name    string
		op      func() error
		wantErr error
		key     string
		want    []byte // nil: key absent
	}{
		{"get missing", func() error { _, err := get("k1"); return err }, tokens.ErrNotFound, "k1", nil},
		{"create", func() error { return s.Create(ctx, "k1", []byte("v1"), 0) }, nil, "k1", []byte("v1")},
		{"create taken", func() error { return s.Create(ctx, "k1", []byte("v2"), 0) }, tokens.ErrConflict, "k1", []byte("v1")},
		{"create empty value", func() error { return s.Create(ctx, "empty", []byte{}, 0) }, nil, "empty", []byte{}},
		{"swap empty", func() error { return s.CompareAndSwap(ctx, "empty", []byte{}, []byte("full")) }, nil, "empty", []byte("full")},
		{"swap wrong old", func() error { return s.CompareAndSwap(ctx, "k1", []byte("nope"), []byte("v3")) }, tokens.ErrConflict, "k1", []byte("v1")},
		{"swap absent old on present", func() error { return s.CompareAndSwap(ctx, "k1", nil, []byte("v3")) }, tokens.ErrConflict, "k1", []byte("v1")},
		{"swap", func() error { return s.CompareAndSwap(ctx, "k1", []byte("v1"), []byte("v3")) }, nil, "k1", []byte("v3")},
		{"swap absent", func() error { return s.CompareAndSwap(ctx, "k2", nil, []byte("new")) }, nil, "k2", []byte("new")},
		{"swap missing with old", func() error { return s.CompareAndSwap(ctx, "k3", []byte("x"), []byte("y")) }, tokens.ErrConflict, "k3", nil},
		{"binary value", func() error { return s.Create(ctx, "bin", []byte{0, 0xff, '\n', 0}, 0) }, nil, "bin", []byte{0, 0xff, '\n', 0}},
		{"odd key", func() error { return s.Create(ctx, "session:a/b c*?[x]\x00", []byte("v"), 0) }, nil, "session:a/b c*?[x]\x00", []byte("v")},
		{"delete", func() error { return s.Delete(ctx, "k2") }, nil, "k2", nil},
		{"delete absent", func() error { return s.Delete(ctx, "k2") }, nil, "k2", nil},
		{"create after delete", func() error { return s.Create(ctx, "k2", []byte("again"), 0) }, nil, "k2", []byte("again")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if tt.wantErr != nil {
				wantErr(t, "op", err, tt.wantErr)
			} else if err != nil {
				t.Fatalf("op: %v", err)
			}
			got, err := get(tt.key)
			if tt.want == nil {
				wantErr(t, "Get", err, tokens.ErrNotFound)
				return
			}
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Get = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("take", func(t *testing.T) {
		if err := s.Create(ctx, "once", []byte("v1"), time.Hour); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got, err := s.Take(ctx, "once"); err != nil || string(got) != "v1" {
			t.Errorf("Take = %q, %v; want v1", got, err)
		}
		_, err := get("once")
		wantErr(t, "Get after Take", err, tokens.ErrNotFound)
		_, err = s.Take(ctx, "once")
		wantErr(t, "Take again", err, tokens.ErrNotFound)
		if err := s.Create(ctx, "once", []byte{}, 0); err != nil {
			t.Fatalf("Create(empty): %v", err)
		}
		if got, err := s.Take(ctx, "once"); err != nil || len(got) != 0 {
			t.Errorf("Take(empty) = %q, %v; want an empty value", got, err)
		}
	})

	t.Run("incr", func(t *testing.T) {
		for want := int64(1); want <= 3; want++ {
			n, err := s.Incr(ctx, "counter", 0)
			if err != nil {
				t.Fatalf("Incr: %v", err)
			}
			if n != want {
				t.Errorf("Incr = %d, want %d", n, want)
			}
		}
		if other, err := s.Incr(ctx, "other counter", time.Hour); err != nil || other != 1 {
			t.Errorf("Incr(other) = %d, %v; want 1", other, err)
		}
	})
}

// testDeployTokenForAuth checks the one-step read of the hot path against
// the two calls it stands for: DeployTokenByDigest and Get of the ban.
func testDeployTokenForAuth(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	kept := mustProject(t, s, "group/kept", owner)
	gone := mustProject(t, s, "group/gone", owner)
	valid := mustDeployToken(t, s, kept, "dt-valid")
	revoked := mustDeployToken(t, s, kept, "dt-revoked")
	if err := s.RevokeDeployToken(ctx, kept.ID, revoked.ID); err != nil {
		t.Fatalf("RevokeDeployToken: %v", err)
	}
	past := when.Add(-time.Hour)
	expired := tokens.DeployToken{ProjectID: kept.ID, Name: "expired", Scopes: []string{tokens.ScopeReadRegistry},
		ExpiresAt: &past, CreatedAt: when, Digest: digest("dt-expired")}
	if err := s.CreateDeployToken(ctx, &expired); err != nil {
		t.Fatalf("CreateDeployToken: %v", err)
	}
	mustDeployToken(t, s, gone, "dt-gone")
	if err := s.DeleteProject(ctx, gone.ID); err != nil {
		t.Fatalf("DeleteProject: %v", err)
	}
	bans := map[string]string{"192.0.2.1": "1700000000", "192.0.2.2": "", "192.0.2.3": "1700000000"}
	for addr, v := range bans {
		ttl := time.Hour
		if addr == "192.0.2.3" {
			ttl = 100 * time.Millisecond
		}
		if err := s.Create(ctx, tokens.BanKey(addr), []byte(v), ttl); err != nil {
			t.Fatalf("Create(ban of %s): %v", addr, err)
		}
	}
	eventually(t, "expiry of the short ban", absent(t, s, tokens.BanKey("192.0.2.3")))

	tests := []struct {
		name, secret, addr string
		found, banned      bool
		ban                string
	}{
		{"found, no ban", "dt-valid", "192.0.2.9", true, false, ""},
		{"found, banned", "dt-valid", "192.0.2.1", true, true, "1700000000"},
		{"found, empty ban", "dt-valid", "192.0.2.2", true, true, ""},
		{"found, ban expired", "dt-valid", "192.0.2.3", true, false, ""},
		{"found, no address", "dt-valid", "", true, false, ""},
		{"revoked is found", "dt-revoked", "192.0.2.9", true, false, ""},
		{"expired is found", "dt-expired", "192.0.2.9", true, false, ""},
		{"unknown, banned", "dt-unknown", "192.0.2.1", false, true, "1700000000"},
		{"unknown, no ban", "dt-unknown", "192.0.2.9", false, false, ""},
		{"project deleted", "dt-gone", "192.0.2.1", false, true, "1700000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tokens.DeployTokenQuery{Digest: digest(tt.secret), Username: "whoever", Addr: tt.addr}
			got, err := s.DeployTokenForAuth(ctx, q)
			if err != nil {
				t.Fatalf("DeployTokenForAuth: %v", err)
			}
			if got.Found != tt.found || got.Banned != tt.banned || string(got.Ban) != tt.ban {
				t.Errorf("found %v, banned %v with %q; want found %v, banned %v with %q",
					got.Found, got.Banned, got.Ban, tt.found, tt.banned, tt.ban)
			}
			// The same answers as the separate calls.
			wantT, wantP, err := s.DeployTokenByDigest(ctx, q.Digest)
			if found := err == nil; found != got.Found || (err != nil && !errors.Is(err, tokens.ErrNotFound)) {
				t.Errorf("DeployTokenByDigest: %v; DeployTokenForAuth found %v", err, got.Found)
			}
			wantEqual(t, "token", got.Token, wantT)
			wantEqual(t, "project", got.Project, wantP)
			if tt.addr == "" {
				return
			}
			v, err := s.Get(ctx, tokens.BanKey(tt.addr))
			if banned := err == nil; banned != got.Banned || string(v) != string(got.Ban) || (err != nil && !errors.Is(err, tokens.ErrNotFound)) {
				t.Errorf("Get(ban) = %q, %v; DeployTokenForAuth banned %v with %q", v, err, got.Banned, got.Ban)
			}
		})
	}
	t.Run("token fields", func(t *testing.T) {
		got, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: valid.Digest, Username: valid.Username})
		if err != nil {
			t.Fatalf("DeployTokenForAuth: %v", err)
		}
		wantEqual(t, "token", got.Token, valid)
		wantEqual(t, "project", got.Project, kept)
		if got, _ := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: revoked.Digest}); !got.Token.Revoked {
			t.Error("a revoked token is answered as not revoked")
		}
	})
}

// eventually polls cond until it holds, failing the test after a generous
// deadline: expiry is checked, not its speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func absent(t *testing.T, s tokens.Store, key string) func() bool {
	return func() bool {
		_, err := s.Get(t.Context(), key)
		if err != nil && !errors.Is(err, tokens.ErrNotFound) {
			t.Fatalf("Get(%q): %v", key, err)
		}
		return err != nil
	}
}

func testKVExpiry(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	const ttl = 100 * time.Millisecond

	t.Run("create", func(t *testing.T) {
		if err := s.Create(ctx, "short", []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if err := s.Create(ctx, "long", []byte("v"), time.Hour); err != nil {
			t.Fatalf("Create: %v", err)
		}
		eventually(t, "expiry of short", absent(t, s, "short"))
		if err := s.Create(ctx, "short", []byte("again"), 0); err != nil {
			t.Errorf("Create after expiry: %v", err)
		}
		if _, err := s.Get(ctx, "long"); err != nil {
			t.Errorf("Get(long) = %v; an hour has not passed", err)
		}
		if err := s.CompareAndSwap(ctx, "long", []byte("v"), []byte("w")); err != nil {
			t.Errorf("CompareAndSwap(long): %v", err)
		}
	})
	t.Run("swap drops ttl", func(t *testing.T) {
		if err := s.Create(ctx, "swapped", []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if err := s.CompareAndSwap(ctx, "swapped", []byte("v"), []byte("w")); err != nil {
			t.Fatalf("CompareAndSwap: %v", err)
		}
		// A sibling created with the same ttl after the swap must expire
		// first; then the swapped key must still be there.
		if err := s.Create(ctx, "witness", []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
		eventually(t, "expiry of witness", absent(t, s, "witness"))
		if got, err := s.Get(ctx, "swapped"); err != nil || string(got) != "w" {
			t.Errorf("Get(swapped) = %q, %v; want w without expiry", got, err)
		}
	})
	t.Run("swap on expired", func(t *testing.T) {
		if err := s.Create(ctx, "stale", []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
		eventually(t, "expiry of stale", absent(t, s, "stale"))
		wantErr(t, "CompareAndSwap(expired, old)", s.CompareAndSwap(ctx, "stale", []byte("v"), []byte("w")), tokens.ErrConflict)
		if err := s.CompareAndSwap(ctx, "stale", nil, []byte("w")); err != nil {
			t.Errorf("CompareAndSwap(expired, nil): %v", err)
		}
	})
	t.Run("renew", func(t *testing.T) {
		if err := s.Create(ctx, "renewed", []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got, err := s.Renew(ctx, "renewed", time.Hour); err != nil || string(got) != "v" {
			t.Fatalf("Renew = %q, %v; want v", got, err)
		}
		// Created with ttl after the renewal, the witness must expire
		// first; the renewed key, with an hour, must still be there.
		if err := s.Create(ctx, "witness2", []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
		eventually(t, "expiry of witness2", absent(t, s, "witness2"))
		if got, err := s.Get(ctx, "renewed"); err != nil || string(got) != "v" {
			t.Errorf("Get(renewed) = %q, %v; want v, renewed for an hour", got, err)
		}
		// Renewing with ttl again leaves the hour: it has more than
		// ttl - ttl/30 left. Then a renewal that needs it shortens
		// nothing either: a key without expiry keeps none.
		if _, err := s.Renew(ctx, "renewed", ttl); err != nil {
			t.Fatalf("Renew(ttl): %v", err)
		}
		if err := s.Create(ctx, "forever", []byte("f"), 0); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := s.Renew(ctx, "forever", ttl); err != nil {
			t.Fatalf("Renew(forever): %v", err)
		}
		if err := s.Create(ctx, "witness3", []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
		eventually(t, "expiry of witness3", absent(t, s, "witness3"))
		for _, k := range []string{"renewed", "forever"} {
			if _, err := s.Get(ctx, k); err != nil {
				t.Errorf("Get(%s) after a renewal it did not need: %v", k, err)
			}
		}
		_, err := s.Renew(ctx, "never-made", time.Hour)
		wantErr(t, "Renew(absent)", err, tokens.ErrNotFound)
		if err := s.Create(ctx, "lapsed", []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
		eventually(t, "expiry of lapsed", absent(t, s, "lapsed"))
		_, err = s.Renew(ctx, "lapsed", time.Hour)
		wantErr(t, "Renew(expired)", err, tokens.ErrNotFound)
	})
	t.Run("take expired", func(t *testing.T) {
		if err := s.Create(ctx, "gone", []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
		eventually(t, "expiry of gone", absent(t, s, "gone"))
		_, err := s.Take(ctx, "gone")
		wantErr(t, "Take(expired)", err, tokens.ErrNotFound)
	})
	t.Run("incr", func(t *testing.T) {
		for want := int64(1); want <= 2; want++ {
			if n, err := s.Incr(ctx, "failures", ttl); err != nil || n != want {
				t.Fatalf("Incr = %d, %v; want %d", n, err, want)
			}
		}
		eventually(t, "expiry of failures", absent(t, s, "failures"))
		if n, err := s.Incr(ctx, "failures", ttl); err != nil || n != 1 {
			t.Errorf("Incr after expiry = %d, %v; want 1", n, err)
		}
		if got, err := s.Get(ctx, "failures"); err == nil && string(got) != "1" {
			t.Errorf("Get(counter) = %q, want 1", got)
		}
	})
}

func testConcurrentUniqueness(t *testing.T, s tokens.Store) {
	const n = 32
	owner := mustUser(t, s, "owner")
	tests := []struct {
		name   string
		create func(ctx context.Context, i int) error
	}{
		{"username", func(ctx context.Context, i int) error {
			u := tokens.User{Username: caseVariant("racer", i)}
			return s.CreateUser(ctx, &u)
		}},
		{"project path", func(ctx context.Context, i int) error {
			p := tokens.Project{Path: "x", PathWithNamespace: caseVariant("group/race", i), Visibility: tokens.Private}
			return s.CreateProject(ctx, &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner})
		}},
		{"deploy token digest", func(ctx context.Context, i int) error {
			p, err := s.ProjectByPath(ctx, "group/race")
			if err != nil {
				return err
			}
			d := tokens.DeployToken{ProjectID: p.ID, Name: "race", Digest: digest("race")}
			return s.CreateDeployToken(ctx, &d)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := race(n, func(i int) error { return tt.create(t.Context(), i) })
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, tokens.ErrConflict):
					t.Errorf("error %v, want nil or ErrConflict", err)
				}
			}
			if wins != 1 {
				t.Errorf("%d creates succeeded, want exactly 1", wins)
			}
		})
	}
	if ms, err := s.ListMembers(t.Context(), mustProjectByPath(t, s, "GROUP/RACE").ID); err != nil || len(ms) != 1 {
		t.Errorf("members of the raced project = %v, %v; want the owner alone", ms, err)
	}
}

func mustProjectByPath(t *testing.T, s tokens.Store, path string) tokens.Project {
	t.Helper()
	p, err := s.ProjectByPath(t.Context(), path)
	if err != nil {
		t.Fatalf("ProjectByPath(%q): %v", path, err)
	}
	return p
}

// caseVariant answers s with the letters chosen by the bits of i in upper
// case.
func caseVariant(s string, i int) string {
	b := []byte(s)
	for j := range b {
		if i&(1<<(j%5)) != 0 {
			b[j] = byte(strings.ToUpper(string(b[j]))[0])
		}
	}
	return string(b)
}

// race runs fn n times at once, released together, and answers the errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			errs[i] = fn(i)
		})
	}
	start.Done()
	done.Wait()
	return errs
}

func testConcurrentKV(t *testing.T, s tokens.Store) {
	const n = 32
	ctx := t.Context()
	t.Run("create", func(t *testing.T) {
		errs := race(n, func(i int) error { return s.Create(ctx, "lock", fmt.Appendf(nil, "%d", i), 0) })
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else if !errors.Is(err, tokens.ErrConflict) {
				t.Errorf("Create: %v", err)
			}
		}
		if wins != 1 {
			t.Errorf("%d creates succeeded, want 1", wins)
		}
	})
	t.Run("compare and swap", func(t *testing.T) {
		if err := s.Create(ctx, "keys", []byte("v0"), 0); err != nil {
			t.Fatalf("Create: %v", err)
		}
		errs := race(n, func(i int) error {
			return s.CompareAndSwap(ctx, "keys", []byte("v0"), fmt.Appendf(nil, "v%d", i+1))
		})
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Errorf("swaps %d and %d both succeeded", winner, i)
				}
				winner = i
			} else if !errors.Is(err, tokens.ErrConflict) {
				t.Errorf("CompareAndSwap: %v", err)
			}
		}
		if winner < 0 {
			t.Fatal("no swap succeeded")
		}
		got, err := s.Get(ctx, "keys")
		if err != nil || string(got) != fmt.Sprintf("v%d", winner+1) {
			t.Errorf("Get = %q, %v; want the winner's value v%d", got, err, winner+1)
		}
	})
	t.Run("take", func(t *testing.T) {
		if err := s.Create(ctx, "secret", []byte("shown once"), time.Hour); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got := make([][]byte, n)
		errs := race(n, func(i int) error {
			var err error
			got[i], err = s.Take(ctx, "secret")
			return err
		})
		takers := 0
		for i, err := range errs {
			switch {
			case err == nil && string(got[i]) == "shown once":
				takers++
			case err == nil:
				t.Errorf("Take = %q", got[i])
			case !errors.Is(err, tokens.ErrNotFound):
				t.Errorf("Take: %v", err)
			}
		}
		if takers != 1 {
			t.Errorf("%d takes got the value, want 1", takers)
		}
	})
	t.Run("incr", func(t *testing.T) {
		counts := make([]int64, n)
		errs := race(n, func(i int) error {
			var err error
			counts[i], err = s.Incr(ctx, "hits", time.Hour)
			return err
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("Incr: %v", err)
		}
		slices.Sort(counts)
		for i, c := range counts {
			if c != int64(i+1) {
				t.Fatalf("counts %v, want 1..%d once each", counts, n)
			}
		}
	})
}

func testNoPlaintextSecrets(t *testing.T, s tokens.Store) {
	d, ok := s.(Dumper)
	if !ok {
		t.Skipf("%T does not implement storetest.Dumper", s)
	}
	ctx := t.Context()
	secrets := []string{"glpat-Zm9vYmFyYmF6cXV4MTIzNDU2", "gldt-c2VjcmV0c2VjcmV0c2VjcmV0", "gldt-Q0lzZWNyZXRDSXNlY3JldENJ"}
	u := mustUser(t, s, "keeper")
	pat := tokens.PersonalAccessToken{UserID: u.ID, Name: "pat", Scopes: []string{tokens.ScopeAPI}, CreatedAt: when, Digest: digest(secrets[0])}
	if err := s.CreatePAT(ctx, &pat); err != nil {
		t.Fatalf("CreatePAT: %v", err)
	}
	p := mustProject(t, s, "group/secret", u)
	mustDeployToken(t, s, p, secrets[1])
	ci := tokens.DeployToken{
		ProjectID: p.ID,
		Name:      tokens.CITokenName,
		Scopes:    []string{tokens.ScopeReadRegistry},
		CreatedAt: when,
		Digest:    digest(secrets[2]),
		// Stands in for the ciphertext package tokens makes.
		CISecret: []byte("ciphertext:8d1f0a77c2"),
	}
	if err := s.CreateDeployToken(ctx, &ci); err != nil {
		t.Fatalf("CreateDeployToken: %v", err)
	}
	if err := s.TouchDeployToken(ctx, ci.ID, when); err != nil {
		t.Fatalf("TouchDeployToken: %v", err)
	}
	if err := s.Create(ctx, "session", []byte("opaque"), time.Hour); err != nil {
		t.Fatalf("Create: %v", err)
	}

	dump, err := d.Dump(ctx)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	var all bytes.Buffer
	for k, v := range dump {
		all.WriteString(k)
		all.WriteByte(0)
		all.Write(v)
		all.WriteByte(0)
	}
	for _, secret := range secrets {
		for _, form := range encodings([]byte(secret)) {
			if bytes.Contains(all.Bytes(), form) {
				t.Errorf("the store holds secret %q (as %q)", secret, form)
			}
		}
		// The digest must be there in some form, or the dump missed the
		// records and the check above proves nothing.
		found := false
		for _, form := range encodings(digest(secret)) {
			found = found || bytes.Contains(all.Bytes(), form)
		}
		if !found {
			t.Errorf("the dump of %d keys holds no digest of %q; does Dump see every record?", len(dump), secret)
		}
	}
	if !bytes.Contains(all.Bytes(), ci.CISecret) && !containsAny(all.Bytes(), encodings(ci.CISecret)) {
		t.Error("the dump holds no CI secret ciphertext; does Dump see every record?")
	}
}

// encodings answers b as it is and in the text encodings a store might use.
func encodings(b []byte) [][]byte {
	return [][]byte{
		b,
		[]byte(base64.StdEncoding.EncodeToString(b)),
		[]byte(base64.RawStdEncoding.EncodeToString(b)),
		[]byte(base64.URLEncoding.EncodeToString(b)),
		[]byte(base64.RawURLEncoding.EncodeToString(b)),
		[]byte(hex.EncodeToString(b)),
		[]byte(strings.ToUpper(hex.EncodeToString(b))),
	}
}

func containsAny(b []byte, forms [][]byte) bool {
	return slices.ContainsFunc(forms, func(f []byte) bool { return bytes.Contains(b, f) })
}

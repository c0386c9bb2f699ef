package boltstore_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// The values below are what testdata/boltstore/generate stored in
// 2026-12-08.db (see the README beside it).

func fixtureDigest(label string) []byte {
	d := sha256.Sum256([]byte("fixture digest: " + label))
	return d[:]
}

func fixtureSealed(label string) []byte {
	a := sha256.Sum256([]byte("fixture sealed: " + label))
	b := sha256.Sum256(a[:])
	return append(a[:], b[:]...)
}

func fixtureAt(month time.Month, day, hour int) time.Time {
	return time.Date(2026, month, day, hour, 0, 0, 0, time.UTC)
}

func ptr[T any](v T) *T { return &v }

var (
	fxUsers = []tokens.User{
		{ID: 1, Username: "Alice", Name: "Alice Admin", Admin: true, CreatedAt: fixtureAt(1, 2, 9)},
		{ID: 2, Username: "bob", Name: "Bob Maintainer", CreatedAt: fixtureAt(1, 3, 9)},
		{ID: 3, Username: "carol", Name: "Carol Developer", CreatedAt: fixtureAt(1, 4, 9)},
		{ID: 4, Username: "dave", CreatedAt: fixtureAt(1, 5, 9)},
		{ID: 5, Username: "erin", Name: "Erin Guest", CreatedAt: time.Date(2026, 1, 6, 10, 11, 12, 123456789, time.FixedZone("", 3600))},
	}
	fxPATs = []tokens.PersonalAccessToken{
		{ID: 1, UserID: 1, Name: "laptop", Scopes: []string{"api"}, CreatedAt: fixtureAt(2, 1, 8),
			LastUsedAt: ptr(time.Date(2026, 11, 30, 17, 45, 1, 500, time.UTC)), Digest: fixtureDigest("pat laptop")},
		{ID: 2, UserID: 2, Name: "registry", Scopes: []string{"read_registry", "write_registry"},
			ExpiresAt: ptr(time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)), Revoked: true, CreatedAt: fixtureAt(2, 2, 8),
			LastUsedAt: ptr(fixtureAt(4, 1, 12)), Digest: fixtureDigest("pat registry")},
		{ID: 3, UserID: 3, Name: "old", Scopes: []string{"read_api", "read_repository"}, ExpiresAt: ptr(fixtureAt(3, 1, 0)),
			CreatedAt: fixtureAt(2, 3, 8), Digest: fixtureDigest("pat old")},
		{ID: 4, UserID: 3, Name: "git", Scopes: []string{"read_repository", "write_repository"}, CreatedAt: fixtureAt(2, 4, 8),
			Digest: fixtureDigest("pat git")},
	}
	fxProjects = []tokens.Project{
		{ID: 1, Path: "app", PathWithNamespace: "group/app", Visibility: tokens.Private, CreatorID: 1, CreatedAt: fixtureAt(3, 1, 9)},
		{ID: 2, Path: "lib", PathWithNamespace: "group/sub/lib", Visibility: tokens.Internal, CreatorID: 2, CreatedAt: fixtureAt(3, 2, 9)},
		{ID: 3, Path: "Site", PathWithNamespace: "Public/Site", Visibility: tokens.Public, CreatorID: 3, CreatedAt: fixtureAt(3, 3, 9)},
		{ID: 5, Path: "tool", PathWithNamespace: "group/sub/deep/tool", Visibility: tokens.Private, CreatorID: 1, CreatedAt: fixtureAt(3, 5, 9)},
	}
	fxMembers = map[int64][]tokens.Member{
		1: {
			{ProjectID: 1, UserID: 1, AccessLevel: tokens.Owner, CreatedAt: fixtureAt(3, 1, 9)},
			{ProjectID: 1, UserID: 2, AccessLevel: tokens.Maintainer, CreatedAt: fixtureAt(4, 1, 9)},
			{ProjectID: 1, UserID: 3, AccessLevel: tokens.Developer, CreatedAt: fixtureAt(4, 2, 9)},
			{ProjectID: 1, UserID: 4, AccessLevel: tokens.Reporter, CreatedAt: fixtureAt(4, 3, 9)},
			{ProjectID: 1, UserID: 5, AccessLevel: tokens.Guest, CreatedAt: fixtureAt(4, 4, 9)},
		},
		2: {
			{ProjectID: 2, UserID: 1, AccessLevel: tokens.Developer, CreatedAt: fixtureAt(4, 5, 9)},
			{ProjectID: 2, UserID: 2, AccessLevel: tokens.Owner, CreatedAt: fixtureAt(3, 2, 9)},
			{ProjectID: 2, UserID: 3, AccessLevel: tokens.Owner, CreatedAt: fixtureAt(4, 6, 9)},
		},
		3: {{ProjectID: 3, UserID: 3, AccessLevel: tokens.Owner, CreatedAt: fixtureAt(3, 3, 9)}},
		5: {{ProjectID: 5, UserID: 1, AccessLevel: tokens.Owner, CreatedAt: fixtureAt(3, 5, 9)}},
	}
	fxTokens = []tokens.DeployToken{
		{ID: 1, ProjectID: 1, Name: "gitlab-deploy-token", Username: "gitlab+deploy-token-1", Scopes: []string{"read_registry"},
			CreatedAt: fixtureAt(5, 1, 9), CreatorID: 1, Digest: fixtureDigest("deploy ci"), CISecret: fixtureSealed("deploy ci")},
		{ID: 2, ProjectID: 1, Name: "pull", Username: "puller", Scopes: []string{"read_repository", "read_registry"},
			ExpiresAt: ptr(time.Date(2027, 6, 30, 23, 59, 59, 0, time.UTC)), CreatedAt: fixtureAt(5, 2, 9), CreatorID: 2,
			LastUsedAt: ptr(time.Date(2026, 12, 1, 6, 30, 0, 250000000, time.UTC)), Digest: fixtureDigest("deploy pull")},
		{ID: 3, ProjectID: 1, Name: "leaked", Username: "gitlab+deploy-token-3", Scopes: []string{"read_repository"},
			Revoked: true, CreatedAt: fixtureAt(5, 3, 9), CreatorID: 1, LastUsedAt: ptr(fixtureAt(7, 1, 9)), Digest: fixtureDigest("deploy leaked")},
		{ID: 4, ProjectID: 2, Name: "expired", Username: "gitlab+deploy-token-4", Scopes: []string{"read_registry", "write_registry"},
			ExpiresAt: ptr(fixtureAt(6, 1, 0)), CreatedAt: fixtureAt(5, 4, 9), CreatorID: 2, Digest: fixtureDigest("deploy expired")},
		{ID: 6, ProjectID: 5, Name: "all", Username: "gitlab+deploy-token-6", Scopes: []string{"read_repository", "read_registry", "write_registry"},
			CreatedAt: time.Date(2026, 5, 6, 9, 0, 0, 987654321, time.FixedZone("", -5*3600)), CreatorID: 1, Digest: fixtureDigest("deploy all")},
	}
	// fxKV holds each KV entry as stored: its expiry in big-endian Unix
	// nanoseconds (0 for none), then its value.
	fxKV = map[string][]byte{
		"meta:secret-check": []byte("\x00\x00\x00\x00\x00\x00\x00\x00fixture-check-value"),
		"session:20cd47e5aa55a754b433430666a15cd7399f383a6d196ce5b25f4c99074eb749": []byte("\x44\xb2\xf5\x03\xa0\xc1\x71\x03" + `{"user_id":1}`),
		"fail:192.0.2.7":   []byte("\x44\xb2\xf5\x03\xa0\xc7\x6a\x40" + "3"),
		"ban:198.51.100.9": []byte("\x18\xef\x1e\x85\xcd\x30\x21\x0e" + "1767225600"),
	}
)

// openFixture opens a copy of testdata/boltstore/name, so the test can
// write to it without changing the fixture.
func openFixture(t *testing.T, name string) *boltstore.Store {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "boltstore", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return open(t, path)
}

// tokenAndProject and patAndUser hold the two answers of a lookup by digest.
type (
	tokenAndProject struct {
		Token   tokens.DeployToken
		Project tokens.Project
	}
	patAndUser struct {
		PAT  tokens.PersonalAccessToken
		User tokens.User
	}
)

// TestFixture checks that a file written by the store of 2026-12-08, before
// boltstore had record types of its own, reads back field for field, that
// its indexes still find records, and that it takes new writes.
func TestFixture(t *testing.T) {
	s := openFixture(t, "2026-12-08.db")
	ctx := t.Context()

	type read struct {
		name    string
		read    func() (any, error)
		want    any
		wantErr error
	}
	var reads []read
	for _, u := range fxUsers {
		reads = append(reads, read{name: fmt.Sprint("user ", u.ID), read: func() (any, error) { return s.User(ctx, u.ID) }, want: u})
	}
	for _, p := range fxPATs {
		reads = append(reads,
			read{name: fmt.Sprint("pat ", p.ID), read: func() (any, error) { return s.PAT(ctx, p.ID) }, want: p},
			read{name: fmt.Sprint("pat ", p.ID, " by digest"), read: func() (any, error) {
				got, u, err := s.PATByDigest(ctx, p.Digest)
				return patAndUser{got, u}, err
			}, want: patAndUser{p, fxUsers[p.UserID-1]}},
		)
	}
	projectByID := map[int64]tokens.Project{}
	for _, p := range fxProjects {
		projectByID[p.ID] = p
		reads = append(reads,
			read{name: fmt.Sprint("project ", p.ID), read: func() (any, error) { return s.Project(ctx, p.ID) }, want: p},
			read{name: "project by path " + p.PathWithNamespace, read: func() (any, error) { return s.ProjectByPath(ctx, p.PathWithNamespace) }, want: p},
			read{name: fmt.Sprint("members of project ", p.ID), read: func() (any, error) { return s.ListMembers(ctx, p.ID) }, want: fxMembers[p.ID]},
		)
	}
	var tokensOf = map[int64][]tokens.DeployToken{}
	for _, tok := range fxTokens {
		tokensOf[tok.ProjectID] = append(tokensOf[tok.ProjectID], tok)
		reads = append(reads,
			read{name: fmt.Sprint("deploy token ", tok.ID), read: func() (any, error) { return s.DeployToken(ctx, tok.ProjectID, tok.ID) }, want: tok},
			read{name: fmt.Sprint("deploy token ", tok.ID, " by digest"), read: func() (any, error) {
				got, p, err := s.DeployTokenByDigest(ctx, tok.Digest)
				return tokenAndProject{got, p}, err
			}, want: tokenAndProject{tok, projectByID[tok.ProjectID]}},
		)
	}
	for pid, want := range tokensOf {
		reads = append(reads, read{name: fmt.Sprint("deploy tokens of project ", pid), read: func() (any, error) { return s.ListDeployTokens(ctx, pid) }, want: want})
	}
	reads = append(reads,
		read{name: "username in another case", read: func() (any, error) { return s.UserByUsername(ctx, "ALICE") }, want: fxUsers[0]},
		read{name: "path in another case", read: func() (any, error) { return s.ProjectByPath(ctx, "public/SITE") }, want: fxProjects[2]},
		read{name: "all projects", read: func() (any, error) { return s.ListProjects(ctx) }, want: fxProjects},
		read{name: "all deploy tokens", read: func() (any, error) { return s.ListAllDeployTokens(ctx) }, want: fxTokens},
		read{name: "member", read: func() (any, error) { return s.Member(ctx, 1, 5) }, want: fxMembers[1][4]},
		read{name: "memberships of alice", read: func() (any, error) { return s.MembershipsOf(ctx, 1) },
			want: []tokens.Member{fxMembers[1][0], fxMembers[2][0], fxMembers[5][0]}},
		read{name: "memberships of dave", read: func() (any, error) { return s.MembershipsOf(ctx, 4) }, want: []tokens.Member{fxMembers[1][3]}},
		read{name: "deleted project", read: func() (any, error) { return s.Project(ctx, 4) }, wantErr: tokens.ErrNotFound},
		read{name: "token of deleted project", read: func() (any, error) {
			_, _, err := s.DeployTokenByDigest(ctx, fixtureDigest("deploy doomed"))
			return nil, err
		}, wantErr: tokens.ErrNotFound},
		// Files from before groups have none, and their projects are in
		// personal namespaces (NamespaceID 0, as fxProjects have it).
		read{name: "no groups", read: func() (any, error) { return s.ListGroups(ctx, 0, 100) }, want: []tokens.Group(nil)},
		read{name: "no groups along a project", read: func() (any, error) { return s.GroupsAlong(ctx, "group/sub/lib") }, want: []tokens.Group(nil)},
		read{name: "kv without expiry", read: func() (any, error) { return s.Get(ctx, "meta:secret-check") }, want: []byte("fixture-check-value")},
		read{name: "kv with expiry", read: func() (any, error) {
			return s.Get(ctx, tokens.SessionKey(fixtureDigest("session")))
		}, want: []byte(`{"user_id":1}`)},
		read{name: "kv counter", read: func() (any, error) { return s.Get(ctx, tokens.FailKey("192.0.2.7")) }, want: []byte("3")},
		read{name: "kv expired", read: func() (any, error) { return s.Get(ctx, tokens.BanKey("198.51.100.9")) }, wantErr: tokens.ErrNotFound},
		read{name: "kv as stored", read: func() (any, error) {
			dump, err := s.Dump(ctx)
			kv := map[string][]byte{}
			for k := range fxKV {
				kv[k] = dump["kv/"+k]
			}
			return kv, err
		}, want: fxKV},
	)
	for _, tt := range reads {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !same(reflect.ValueOf(got), reflect.ValueOf(tt.want)) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}

	// Writes run in order: each continues the file's sequences and
	// indexes, and later ones use what earlier ones created.
	var (
		frank   = tokens.User{Username: "frank", Name: "Frank New", CreatedAt: fixtureAt(12, 9, 9)}
		newPAT  = tokens.PersonalAccessToken{UserID: 1, Name: "new", Scopes: []string{"api"}, CreatedAt: fixtureAt(12, 9, 9), Digest: fixtureDigest("new pat")}
		newProj = tokens.Project{Path: "new", PathWithNamespace: "group/new", Visibility: tokens.Internal, CreatorID: 6, CreatedAt: fixtureAt(12, 9, 9)}
		newTok  = tokens.DeployToken{ProjectID: 6, Name: "new", Scopes: []string{"read_registry"}, CreatedAt: fixtureAt(12, 9, 9), CreatorID: 6, Digest: fixtureDigest("new deploy")}
	)
	writes := []struct {
		name    string
		write   func() error
		check   func() (any, error)
		want    any
		wantErr error
	}{
		{name: "username taken in another case", write: func() error {
			return s.CreateUser(ctx, &tokens.User{Username: "CAROL", CreatedAt: fixtureAt(12, 9, 9)})
		}, wantErr: tokens.ErrConflict},
		{name: "user", write: func() error { return s.CreateUser(ctx, &frank) },
			check: func() (any, error) { return s.UserByUsername(ctx, "Frank") },
			want:  tokens.User{ID: 6, Username: "frank", Name: "Frank New", CreatedAt: fixtureAt(12, 9, 9)}},
		{name: "pat digest taken", write: func() error {
			return s.CreatePAT(ctx, &tokens.PersonalAccessToken{UserID: 6, Name: "dup", CreatedAt: fixtureAt(12, 9, 9), Digest: fixtureDigest("pat git")})
		}, wantErr: tokens.ErrConflict},
		{name: "pat", write: func() error { return s.CreatePAT(ctx, &newPAT) },
			check: func() (any, error) { return s.PAT(ctx, 5) },
			want: tokens.PersonalAccessToken{ID: 5, UserID: 1, Name: "new", Scopes: []string{"api"}, CreatedAt: fixtureAt(12, 9, 9),
				Digest: fixtureDigest("new pat")}},
		{name: "revoke pat", write: func() error { return s.RevokePAT(ctx, 1) },
			check: func() (any, error) { p, err := s.PAT(ctx, 1); return p.Revoked, err }, want: true},
		{name: "project path taken in another case", write: func() error {
			return s.CreateProject(ctx, &tokens.Project{Path: "app", PathWithNamespace: "GROUP/APP", CreatedAt: fixtureAt(12, 9, 9)}, tokens.Member{UserID: 6, AccessLevel: tokens.Owner})
		}, wantErr: tokens.ErrConflict},
		{name: "project holding another", write: func() error {
			return s.CreateProject(ctx, &tokens.Project{Path: "deep", PathWithNamespace: "group/sub/deep", CreatedAt: fixtureAt(12, 9, 9)}, tokens.Member{UserID: 6, AccessLevel: tokens.Owner})
		}, wantErr: tokens.ErrNested},
		{name: "project", write: func() error {
			return s.CreateProject(ctx, &newProj, tokens.Member{UserID: 6, AccessLevel: tokens.Owner, CreatedAt: fixtureAt(12, 9, 9)})
		},
			check: func() (any, error) { return s.ProjectByPath(ctx, "group/new") },
			want: tokens.Project{ID: 6, Path: "new", PathWithNamespace: "group/new", Visibility: tokens.Internal, CreatorID: 6,
				CreatedAt: fixtureAt(12, 9, 9)}},
		{name: "member", write: func() error {
			return s.PutMember(ctx, tokens.Member{ProjectID: 1, UserID: 6, AccessLevel: tokens.Developer, CreatedAt: fixtureAt(12, 9, 9)})
		},
			check: func() (any, error) { return s.MembershipsOf(ctx, 6) },
			want: []tokens.Member{
				{ProjectID: 1, UserID: 6, AccessLevel: tokens.Developer, CreatedAt: fixtureAt(12, 9, 9)},
				{ProjectID: 6, UserID: 6, AccessLevel: tokens.Owner, CreatedAt: fixtureAt(12, 9, 9)},
			}},
		{name: "last owner stays", write: func() error { return s.DeleteMember(ctx, 3, 3) }, wantErr: tokens.ErrLastOwner},
		{name: "deploy token digest taken", write: func() error {
			return s.CreateDeployToken(ctx, &tokens.DeployToken{ProjectID: 6, Name: "dup", CreatedAt: fixtureAt(12, 9, 9), Digest: fixtureDigest("deploy pull")})
		}, wantErr: tokens.ErrConflict},
		{name: "deploy token", write: func() error { return s.CreateDeployToken(ctx, &newTok) },
			check: func() (any, error) {
				got, p, err := s.DeployTokenByDigest(ctx, fixtureDigest("new deploy"))
				return tokenAndProject{got, p}, err
			},
			want: tokenAndProject{tokens.DeployToken{ID: 7, ProjectID: 6, Name: "new", Username: "gitlab+deploy-token-7",
				Scopes: []string{"read_registry"}, CreatedAt: fixtureAt(12, 9, 9), CreatorID: 6, Digest: fixtureDigest("new deploy")},
				tokens.Project{ID: 6, Path: "new", PathWithNamespace: "group/new", Visibility: tokens.Internal, CreatorID: 6, CreatedAt: fixtureAt(12, 9, 9)}}},
		{name: "touch deploy token", write: func() error { return s.TouchDeployToken(ctx, 1, fixtureAt(12, 9, 10)) },
			check: func() (any, error) { tok, err := s.DeployToken(ctx, 1, 1); return tok.LastUsedAt, err },
			want:  ptr(fixtureAt(12, 9, 10))},
		{name: "delete project", write: func() error { return s.DeleteProject(ctx, 2) },
			check: func() (any, error) { return s.MembershipsOf(ctx, 3) },
			want:  []tokens.Member{fxMembers[1][2], fxMembers[3][0]}},
		{name: "group", write: func() error {
			g := tokens.Group{Name: "Teams", Path: "teams", FullPath: "teams", Visibility: tokens.Private, CreatorID: 2, CreatedAt: fixtureAt(12, 9, 9)}
			return s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: 2, AccessLevel: tokens.Owner, CreatedAt: fixtureAt(12, 9, 9)})
		}, check: func() (any, error) { return s.GroupsAlong(ctx, "Teams/app") },
			want: []tokens.Group{{ID: 1, Name: "Teams", Path: "teams", FullPath: "teams", Visibility: tokens.Private, CreatorID: 2, CreatedAt: fixtureAt(12, 9, 9)}}},
		{name: "group at a username", write: func() error {
			g := tokens.Group{Path: "bob", FullPath: "BOB"}
			return s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: 2, AccessLevel: tokens.Owner})
		}, wantErr: tokens.ErrConflict},
		{name: "kv counter", write: func() error { _, err := s.Incr(ctx, tokens.FailKey("192.0.2.7"), time.Hour); return err },
			check: func() (any, error) { return s.Get(ctx, tokens.FailKey("192.0.2.7")) }, want: []byte("4")},
		{name: "kv over expired", write: func() error { return s.Create(ctx, tokens.BanKey("198.51.100.9"), []byte("2"), 0) },
			check: func() (any, error) { return s.Get(ctx, tokens.BanKey("198.51.100.9")) }, want: []byte("2")},
	}
	t.Run("writes", func(t *testing.T) {
		for _, tt := range writes {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.write()
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("error %v, want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := tt.check()
				if err != nil {
					t.Fatal(err)
				}
				if !same(reflect.ValueOf(got), reflect.ValueOf(tt.want)) {
					t.Errorf("\n got %+v\nwant %+v", got, tt.want)
				}
			})
		}
	})
}

var timeType = reflect.TypeFor[time.Time]()

// same is reflect.DeepEqual except that times are the same when they are
// the same instant at the same offset from UTC: a time decoded from a file
// has a location of its own, which only has to agree with the one it was
// written with on the offset.
func same(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == timeType {
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		_, oa := ta.Zone()
		_, ob := tb.Zone()
		return ta.Equal(tb) && oa == ob
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return same(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !same(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !same(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

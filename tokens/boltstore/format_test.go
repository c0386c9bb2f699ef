package boltstore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestFileFormat pins the bytes each kind of record and index entry is
// stored as, so that a change to the domain model (a renamed JSON tag, a
// new field) can't change the file a release reads without failing here.
// A deliberate change to one of these literals is a change of the file
// format: existing files must still read (TestFixture), and the change
// needs a fixture of its own (testdata/boltstore/README.md).
func TestFileFormat(t *testing.T) {
	// created has nanoseconds and an offset, which the format keeps.
	created := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.FixedZone("", 3600))
	expires := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	used := time.Date(2025, 6, 7, 8, 9, 10, 500, time.UTC)
	const createdJSON = `"2025-03-04T05:06:07.890123456+01:00"`

	// Every row starts from a store holding user 1 (alice) and her project
	// 1 (Group/App).
	base := func(t *testing.T, s *boltstore.Store) {
		t.Helper()
		u := tokens.User{Username: "Alice", Name: "Alice A", Admin: true, CreatedAt: created}
		if err := s.CreateUser(t.Context(), &u); err != nil {
			t.Fatal(err)
		}
		p := tokens.Project{Path: "App", PathWithNamespace: "Group/App", Visibility: tokens.Internal, CreatorID: u.ID, CreatedAt: created}
		if err := s.CreateProject(t.Context(), &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner, CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
	}
	id1 := "\x00\x00\x00\x00\x00\x00\x00\x01"
	id2 := "\x00\x00\x00\x00\x00\x00\x00\x02"
	tests := []struct {
		name  string
		write func(t *testing.T, s *boltstore.Store) error
		key   string // bucket/key
		want  string
	}{
		{
			name: "user",
			key:  "users/" + id1,
			want: `{"id":1,"username":"Alice","name":"Alice A","admin":true,"created_at":` + createdJSON + `}`,
		},
		{name: "username index", key: "users_by_name/alice", want: id1},
		{
			name: "personal access token",
			write: func(t *testing.T, s *boltstore.Store) error {
				return s.CreatePAT(t.Context(), &tokens.PersonalAccessToken{UserID: 1, Name: "laptop",
					Scopes: []string{tokens.ScopeAPI}, CreatedAt: created, Digest: []byte("digest-pat")})
			},
			key: "pats/" + id1,
			want: `{"id":1,"user_id":1,"name":"laptop","scopes":["api"],"expires_at":null,"revoked":false,` +
				`"created_at":` + createdJSON + `,"last_used_at":null,"digest":"ZGlnZXN0LXBhdA=="}`,
		},
		{
			name: "used revoked personal access token",
			write: func(t *testing.T, s *boltstore.Store) error {
				pat := tokens.PersonalAccessToken{UserID: 1, Name: "ci", Scopes: []string{tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry},
					ExpiresAt: &expires, CreatedAt: created, Digest: []byte("digest-pat")}
				if err := s.CreatePAT(t.Context(), &pat); err != nil {
					return err
				}
				if err := s.TouchPAT(t.Context(), pat.ID, used); err != nil {
					return err
				}
				return s.RevokePAT(t.Context(), pat.ID)
			},
			key: "pats/" + id1,
			want: `{"id":1,"user_id":1,"name":"ci","scopes":["read_registry","write_registry"],"expires_at":"2026-03-04T00:00:00Z",` +
				`"revoked":true,"created_at":` + createdJSON + `,"last_used_at":"2025-06-07T08:09:10.0000005Z","digest":"ZGlnZXN0LXBhdA=="}`,
		},
		{
			name: "personal access token digest index",
			write: func(t *testing.T, s *boltstore.Store) error {
				return s.CreatePAT(t.Context(), &tokens.PersonalAccessToken{UserID: 1, Name: "laptop", CreatedAt: created, Digest: []byte("digest-pat")})
			},
			key:  "pats_by_digest/digest-pat",
			want: id1,
		},
		{
			name: "project",
			key:  "projects/" + id1,
			want: `{"id":1,"path":"App","path_with_namespace":"Group/App","visibility":"internal","creator_id":1,"created_at":` + createdJSON + `}`,
		},
		{name: "project path index", key: "projects_by_path/group/app", want: id1},
		{
			name: "member",
			write: func(t *testing.T, s *boltstore.Store) error {
				u := tokens.User{Username: "bob", CreatedAt: created}
				if err := s.CreateUser(t.Context(), &u); err != nil {
					return err
				}
				return s.PutMember(t.Context(), tokens.Member{ProjectID: 1, UserID: u.ID, AccessLevel: tokens.Developer, CreatedAt: created})
			},
			key:  "members/" + id1 + id2,
			want: `{"project_id":1,"user_id":2,"access_level":30,"created_at":` + createdJSON + `}`,
		},
		{name: "membership index", key: "memberships/" + id1 + id1, want: ""},
		{
			name: "deploy token",
			write: func(t *testing.T, s *boltstore.Store) error {
				return s.CreateDeployToken(t.Context(), &tokens.DeployToken{ProjectID: 1, Name: "pull",
					Scopes: []string{tokens.ScopeReadRepository}, CreatedAt: created, CreatorID: 1, Digest: []byte("digest-dt")})
			},
			key: "tokens/" + id1,
			want: `{"id":1,"project_id":1,"name":"pull","username":"gitlab+deploy-token-1","scopes":["read_repository"],` +
				`"expires_at":null,"revoked":false,"created_at":` + createdJSON + `,"creator_id":1,"last_used_at":null,"digest":"ZGlnZXN0LWR0"}`,
		},
		{
			name: "used revoked CI token",
			write: func(t *testing.T, s *boltstore.Store) error {
				dt := tokens.DeployToken{ProjectID: 1, Name: tokens.CITokenName, Username: "ci", Scopes: []string{tokens.ScopeReadRegistry},
					ExpiresAt: &expires, CreatedAt: created, CreatorID: 1, Digest: []byte("digest-dt"), CISecret: []byte("sealed")}
				if err := s.CreateDeployToken(t.Context(), &dt); err != nil {
					return err
				}
				if err := s.TouchDeployToken(t.Context(), dt.ID, used); err != nil {
					return err
				}
				return s.RevokeDeployToken(t.Context(), dt.ProjectID, dt.ID)
			},
			key: "tokens/" + id1,
			want: `{"id":1,"project_id":1,"name":"gitlab-deploy-token","username":"ci","scopes":["read_registry"],` +
				`"expires_at":"2026-03-04T00:00:00Z","revoked":true,"created_at":` + createdJSON + `,"creator_id":1,` +
				`"last_used_at":"2025-06-07T08:09:10.0000005Z","digest":"ZGlnZXN0LWR0","ci_secret":"c2VhbGVk"}`,
		},
		{
			name: "deploy token digest index",
			write: func(t *testing.T, s *boltstore.Store) error {
				return s.CreateDeployToken(t.Context(), &tokens.DeployToken{ProjectID: 1, Name: "pull", CreatedAt: created, Digest: []byte("digest-dt")})
			},
			key:  "tokens_by_digest/digest-dt",
			want: id1,
		},
		{
			name: "project token index",
			write: func(t *testing.T, s *boltstore.Store) error {
				return s.CreateDeployToken(t.Context(), &tokens.DeployToken{ProjectID: 1, Name: "pull", CreatedAt: created, Digest: []byte("digest-dt")})
			},
			key:  "project_tokens/" + id1 + id1,
			want: "",
		},
		{
			name:  "group",
			write: writeGroups(created),
			key:   "groups/" + id2,
			want: `{"id":2,"name":"Team","path":"Team","full_path":"Corp/Team","parent_id":1,"visibility":"public",` +
				`"description":"the team","creator_id":1,"created_at":` + createdJSON + `}`,
		},
		{name: "group path index", write: writeGroups(created), key: "groups_by_path/corp/team", want: id2},
		{name: "subgroup index", write: writeGroups(created), key: "subgroups/" + id1 + id2, want: ""},
		{
			name:  "group member",
			write: writeGroups(created),
			key:   "group_members/" + id2 + id1,
			want:  `{"group_id":2,"user_id":1,"access_level":50,"created_at":` + createdJSON + `}`,
		},
		{name: "group membership index", write: writeGroups(created), key: "group_memberships/" + id1 + id2, want: ""},
		{
			name:  "project in a group",
			write: writeGroups(created),
			key:   "projects/" + id2,
			want:  `{"id":2,"path":"Lib","path_with_namespace":"Corp/Team/Lib","visibility":"private","creator_id":1,"created_at":` + createdJSON + `,"namespace_id":2}`,
		},
		{name: "group project index", write: writeGroups(created), key: "group_projects/" + id2 + id2, want: ""},
		{
			name: "group deploy token",
			write: func(t *testing.T, s *boltstore.Store) error {
				if err := writeGroups(created)(t, s); err != nil {
					return err
				}
				return s.CreateDeployToken(t.Context(), &tokens.DeployToken{GroupID: 2, Name: "pull",
					Scopes: []string{tokens.ScopeReadRegistry}, CreatedAt: created, CreatorID: 1, Digest: []byte("digest-gt")})
			},
			key: "tokens/" + id1,
			want: `{"id":1,"project_id":0,"name":"pull","username":"gitlab+deploy-token-1","scopes":["read_registry"],` +
				`"expires_at":null,"revoked":false,"created_at":` + createdJSON + `,"creator_id":1,"last_used_at":null,"digest":"ZGlnZXN0LWd0","group_id":2}`,
		},
		{
			name: "group token index",
			write: func(t *testing.T, s *boltstore.Store) error {
				if err := writeGroups(created)(t, s); err != nil {
					return err
				}
				return s.CreateDeployToken(t.Context(), &tokens.DeployToken{GroupID: 2, Name: "pull", CreatedAt: created, Digest: []byte("digest-gt")})
			},
			key:  "group_tokens/" + id2 + id1,
			want: "",
		},
		{
			name: "kv value without expiry",
			write: func(t *testing.T, s *boltstore.Store) error {
				return s.Create(t.Context(), tokens.SecretCheckKey, []byte("check"), 0)
			},
			key:  "kv/meta:secret-check",
			want: "\x00\x00\x00\x00\x00\x00\x00\x00check",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "deploytokens.db"))
			base(t, s)
			if tt.write != nil {
				if err := tt.write(t, s); err != nil {
					t.Fatal(err)
				}
			}
			dump, err := s.Dump(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			got, ok := dump[tt.key]
			if !ok {
				t.Fatalf("no key %q", tt.key)
			}
			if string(got) != tt.want {
				t.Errorf("%q holds\n %s\nwant\n %s", tt.key, got, tt.want)
			}
		})
	}
}

// writeGroups stores groups 1 (Corp) and 2 (Corp/Team, public), owned by
// user 1, and project 2 (Corp/Team/Lib) in group 2.
func writeGroups(created time.Time) func(t *testing.T, s *boltstore.Store) error {
	return func(t *testing.T, s *boltstore.Store) error {
		owner := tokens.GroupMember{UserID: 1, AccessLevel: tokens.Owner, CreatedAt: created}
		corp := tokens.Group{Name: "Corp", Path: "Corp", FullPath: "Corp", Visibility: tokens.Private, CreatorID: 1, CreatedAt: created}
		if err := s.CreateGroup(t.Context(), &corp, owner); err != nil {
			return err
		}
		team := tokens.Group{Name: "Team", Path: "Team", FullPath: "Corp/Team", ParentID: corp.ID, Visibility: tokens.Public,
			Description: "the team", CreatorID: 1, CreatedAt: created}
		if err := s.CreateGroup(t.Context(), &team, owner); err != nil {
			return err
		}
		p := tokens.Project{Path: "Lib", PathWithNamespace: "Corp/Team/Lib", Visibility: tokens.Private, CreatorID: 1,
			CreatedAt: created, NamespaceID: team.ID}
		return s.CreateProject(t.Context(), &p, tokens.Member{UserID: 1, AccessLevel: tokens.Owner, CreatedAt: created})
	}
}

package boltstore_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestCountsOnOlderFiles: a file written before the list counts existed
// gets them filled when it is opened, so totals are right from the start
// and stay right through later writes.
func TestCountsOnOlderFiles(t *testing.T) {
	t.Run("fixture", func(t *testing.T) {
		s := openFixture(t, "2026-12-08.db")
		_, total, err := s.PageAllDeployTokens(t.Context(), tokens.Page{Limit: 100})
		if err != nil || total != len(fxTokens) {
			t.Errorf("PageAllDeployTokens: total %d, %v; want %d", total, err, len(fxTokens))
		}
		if _, total, err := s.ListUsers(t.Context(), tokens.UserQuery{Page: tokens.Page{Limit: 1}}); err != nil || total != len(fxUsers) {
			t.Errorf("ListUsers: total %d, %v; want %d", total, err, len(fxUsers))
		}
	})
	t.Run("groups", func(t *testing.T) {
		ctx := t.Context()
		path := filepath.Join(t.TempDir(), "older.db")
		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		u := tokens.User{Username: "owner", CreatedAt: time.Now()}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		g := tokens.Group{Name: "g", Path: "g", FullPath: "g", Visibility: tokens.Private, CreatorID: u.ID}
		if err := s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			d := tokens.DeployToken{GroupID: g.ID, Name: "t", Scopes: []string{tokens.ScopeReadRegistry}, Digest: fmt.Appendf(nil, "d%d", i)}
			if err := s.CreateDeployToken(ctx, &d); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// What an older version left: no counts.
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("counts")) }); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t, path)
		d := tokens.DeployToken{GroupID: g.ID, Name: "t", Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte("after")}
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			total func() (int, error)
			want  int
		}{
			{"group tokens", func() (int, error) {
				_, n, err := s.PageGroupDeployTokens(ctx, g.ID, tokens.Page{Limit: 1})
				return n, err
			}, 4},
			{"all tokens", func() (int, error) { _, n, err := s.PageAllDeployTokens(ctx, tokens.Page{Limit: 1}); return n, err }, 4},
			{"members", func() (int, error) {
				_, n, err := s.PageGroupMembers(ctx, g.ID, tokens.Page{Limit: 1})
				return n, err
			}, 1},
			{"groups", func() (int, error) { return s.CountGroups(ctx) }, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if n, err := tt.total(); err != nil || n != tt.want {
					t.Errorf("%d, %v; want %d", n, err, tt.want)
				}
			})
		}
	})
}

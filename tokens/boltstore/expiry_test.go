package boltstore_test

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestExpiryIndexOnOlderFiles: a file written before the index by expiry
// existed gets it filled when it is opened, without the revoked tokens
// and those that never expire, and kept by later writes.
func TestExpiryIndexOnOlderFiles(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "older.db")
	s := open(t, path)
	u := tokens.User{Username: "owner", CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{Path: "app", PathWithNamespace: "team/app", Visibility: tokens.Private, CreatorID: u.ID}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(name string, in time.Duration) tokens.DeployToken {
		d := tokens.DeployToken{ProjectID: p.ID, Name: name, Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte(name)}
		if in != 0 {
			at := base.Add(in)
			d.ExpiresAt = &at
		}
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	second := mk("second", 2*time.Hour)
	first := mk("first", time.Hour)
	mk("never", 0)
	revoked := mk("revoked", time.Hour)
	if err := s.RevokeDeployToken(ctx, p.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What an older version left: no index by expiry.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("tokens_by_expiry")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	after := mk("after", 3*time.Hour)
	tests := []struct {
		name string
		from time.Time
		want []int64
	}{
		{"all", time.Time{}, []int64{first.ID, second.ID, after.ID}},
		{"from the second", second.ExpiresAt.Add(-time.Minute), []int64{second.ID, after.ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DeployTokensExpiring(ctx, tc.from, base.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if len(ids) != len(tc.want) {
				t.Fatalf("IDs %v, want %v", ids, tc.want)
			}
			for i := range ids {
				if ids[i] != tc.want[i] {
					t.Fatalf("IDs %v, want %v", ids, tc.want)
				}
			}
		})
	}
}

package boltstore

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// loadTokens stores a user, n/10 projects and n deploy tokens: the first
// half in one transaction, as an import would write them, the rest one by
// one.
func loadTokens(t *testing.T, s *Store, n int) []tokens.DeployToken {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	owner := tokens.User{Username: "owner", CreatedAt: now}
	if err := s.CreateUser(ctx, &owner); err != nil {
		t.Fatal(err)
	}
	ps := make([]tokens.Project, n/10)
	for i := range ps {
		ps[i] = tokens.Project{Path: fmt.Sprint("p", i), PathWithNamespace: fmt.Sprint("g/p", i), CreatorID: owner.ID, CreatedAt: now}
	}
	for i := range ps {
		if err := s.CreateProject(ctx, &ps[i], tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	ts := make([]tokens.DeployToken, n)
	for i := range ts {
		ts[i] = tokens.DeployToken{ProjectID: ps[i/10].ID, Name: fmt.Sprint("token ", i),
			Scopes:    []string{tokens.ScopeReadRepository, tokens.ScopeReadRegistry},
			ExpiresAt: &now, CreatedAt: now, CreatorID: owner.ID, Digest: fmt.Appendf(nil, "digest-%08d", i)}
	}
	err := s.update("load tokens", func(tx *bolt.Tx) error {
		for i := range ts[:n/2] {
			if err := insertDeployToken(tx, &ts[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := n / 2; i < n; i++ {
		if err := s.CreateDeployToken(ctx, &ts[i]); err != nil {
			t.Fatal(err)
		}
	}
	return ts
}

func tokenStats(t *testing.T, s *Store) bolt.BucketStats {
	t.Helper()
	var st bolt.BucketStats
	if err := s.db.View(func(tx *bolt.Tx) error { st = tx.Bucket(bTokens).Stats(); return nil }); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAppendedFill checks that the pages of an ID-keyed bucket are filled
// to appendFill, whether its records came in one transaction or one by
// one, and that a token's first last-use time fits in the room left.
func TestAppendedFill(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "deploytokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ts := loadTokens(t, s, 600)

	st := tokenStats(t, s)
	// Bolt's default fill leaves the pages about half used.
	if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.8 {
		t.Errorf("token pages %.0f%% used (%d pages for %d tokens), want at least 80%%", 100*fill, st.LeafPageN, st.KeyN)
	}
	// Every token of the first pages gets its first last-use time.
	for _, tok := range ts[:60] {
		if err := s.TouchDeployToken(t.Context(), tok.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if after := tokenStats(t, s); after.LeafPageN != st.LeafPageN {
		t.Errorf("last-use times split token pages: %d pages before, %d after", st.LeafPageN, after.LeafPageN)
	}
}

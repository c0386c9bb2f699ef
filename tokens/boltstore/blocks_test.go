package boltstore_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestBlockCounts: offset pages and ranks reached through the counts of
// ID blocks match a walk of every record across several blocks, after
// deletes and visibility changes, in a file that had them all along and
// in one written before them (filled when it is opened).
func TestBlockCounts(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "blocks.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	owner := tokens.User{Username: "owner"}
	if err := s.CreateUser(ctx, &owner); err != nil {
		t.Fatal(err)
	}
	ps := make([]tokens.Project, 3500)
	for i := range ps {
		vis := tokens.Private
		if i%3 == 0 {
			vis = tokens.Internal
		}
		ps[i] = tokens.Project{Path: fmt.Sprint("p", i), PathWithNamespace: fmt.Sprint("owner/p", i), Visibility: vis}
	}
	if err := s.BulkProjects(owner, ps); err != nil {
		t.Fatal(err)
	}
	// Empty a block but for one, and thin others.
	for i := range ps {
		if (i >= 1030 && i < 2040) || i%7 == 0 {
			if err := s.DeleteProject(ctx, ps[i].ID); err != nil {
				t.Fatal(err)
			}
		} else if i%11 == 0 {
			if _, err := s.UpdateProject(ctx, ps[i].ID, tokens.ProjectChange{Visibility: tokens.Public}); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(t *testing.T, s *boltstore.Store) {
		all, err := s.ListProjects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, index := range []tokens.ProjectIndex{tokens.AllProjects, tokens.InternalProjects} {
			var want []int64
			for _, p := range all {
				if index.Holds(p.Visibility) {
					want = append(want, p.ID)
				}
			}
			for offset := 0; offset < len(want)+100; offset += 97 {
				got, total, err := s.PageProjects(ctx, index, tokens.Page{Offset: offset, Limit: 50})
				ids := []int64{}
				for _, p := range got {
					ids = append(ids, p.ID)
				}
				if w := tokens.PageOf(want, tokens.Page{Offset: offset, Limit: 50}); err != nil || total != len(want) || !slices.Equal(ids, w) {
					t.Fatalf("index %d offset %d: %v of %d, %v; want %v of %d", index, offset, ids, total, err, w, len(want))
				}
			}
			probe := []int64{1, want[0], want[len(want)/2], want[len(want)-1], want[len(want)-1] + 5, ps[1500].ID}
			ranks, err := s.CountProjectsBefore(ctx, index, probe)
			if err != nil {
				t.Fatal(err)
			}
			for i, id := range probe {
				w, _ := slices.BinarySearch(want, id)
				if ranks[i] != w {
					t.Errorf("index %d: %d projects before %d; want %d", index, ranks[i], id, w)
				}
			}
		}
	}
	t.Run("kept", func(t *testing.T) { check(t, s) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("count_blocks")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("filled on open", func(t *testing.T) { check(t, open(t, path)) })
}

package boltstore_test

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestEventCounts: a page of audit events without a time filter answers
// its total from a count kept with the events, stepping over no more index
// keys than the page holds however long the list; the counts are filled
// for a file written before them and follow the sweep.
func TestEventCounts(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const events = 1200
	for i := range events {
		e := tokens.AuditEvent{Name: tokens.EventDeployTokenCreated, ProjectID: 1, AuthorKind: tokens.AuthorUser, AuthorID: 3, AuthorName: "alice", CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		if i%3 == 0 {
			e.Name, e.ProjectID = tokens.EventDeployTokenRevoked, 2
		}
		if err := s.AppendEvent(ctx, &e, nil); err != nil {
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
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("audit_counts")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	page := tokens.Page{Limit: 20}
	check := func(t *testing.T, q tokens.EventQuery, wantTotal int, wantFirst time.Time) {
		t.Helper()
		_, _, keys0 := s.Ops()
		got, total, err := s.PageEvents(ctx, q)
		_, _, keys1 := s.Ops()
		if err != nil || total != wantTotal || len(got) != min(q.Limit, wantTotal) {
			t.Fatalf("%d of %d events (%v), want %d of %d", len(got), total, err, min(q.Limit, wantTotal), wantTotal)
		}
		if !got[0].CreatedAt.Equal(wantFirst) {
			t.Errorf("first event of %v, want %v", got[0].CreatedAt, wantFirst)
		}
		if walked := keys1 - keys0; walked > int64(q.Offset+q.Limit) {
			t.Errorf("walked %d index keys for a page of %d at %d", walked, q.Limit, q.Offset)
		}
	}
	last := base.Add((events - 1) * time.Minute)
	tests := []struct {
		name  string
		q     tokens.EventQuery
		total int
		first time.Time
	}{
		{"instance", tokens.EventQuery{Page: page}, events, last},
		{"project", tokens.EventQuery{Page: page, ProjectID: 1}, events * 2 / 3, last},
		{"name", tokens.EventQuery{Page: page, Name: tokens.EventDeployTokenRevoked}, events / 3, last.Add(-2 * time.Minute)},
		{"project and name", tokens.EventQuery{Page: page, ProjectID: 2, Name: tokens.EventDeployTokenRevoked}, events / 3, last.Add(-2 * time.Minute)},
		{"second page", tokens.EventQuery{Page: tokens.Page{Offset: 20, Limit: 20}}, events, last.Add(-20 * time.Minute)},
		{"none", tokens.EventQuery{Page: page, ProjectID: 3}, 0, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.total == 0 {
				got, total, err := s.PageEvents(ctx, tc.q)
				if err != nil || total != 0 || len(got) != 0 {
					t.Fatalf("%d of %d events (%v), want none", len(got), total, err)
				}
				return
			}
			check(t, tc.q, tc.total, tc.first)
		})
	}
	t.Run("after the sweep and an append", func(t *testing.T) {
		if n, err := s.SweepEvents(ctx, base.Add(600*time.Minute)); err != nil || n != 600 {
			t.Fatalf("swept %d (%v), want 600", n, err)
		}
		e := tokens.AuditEvent{Name: tokens.EventDeployTokenCreated, ProjectID: 1, AuthorKind: tokens.AuthorUser, AuthorID: 3, AuthorName: "alice", CreatedAt: last.Add(time.Minute)}
		if err := s.AppendEvent(ctx, &e, nil); err != nil {
			t.Fatal(err)
		}
		check(t, tokens.EventQuery{Page: page}, 601, last.Add(time.Minute))
		check(t, tokens.EventQuery{Page: page, ProjectID: 2}, 200, last.Add(-2*time.Minute))
	})
}

package tokens_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

type countingImages struct{ purged []string }

func (c *countingImages) Purge(_ context.Context, path string) error {
	c.purged = append(c.purged, path)
	return nil
}

// TestPurgeKeepsAReservationBeingDeleted: a replica's background purge
// that runs between an older replica's reservation of a path and its
// deletion of the project must not release the path, or the path would be
// free the moment the project goes, its images still in the registry.
func TestPurgeKeepsAReservationBeingDeleted(t *testing.T) {
	ctx := t.Context()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "dead.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	images := &countingImages{}
	svc := &tokens.Service{Store: s, Images: images, Now: func() time.Time { return now }}
	u := tokens.User{Username: "alice", CreatedAt: now}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{Path: "img", PathWithNamespace: "old/img", Visibility: tokens.Private, CreatedAt: now}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// A replica of an older version, which reserved before it deleted,
	// has reserved the path (migrated since); the project is not deleted
	// yet.
	if err := s.ReserveDeadPath(ctx, tokens.DeadPath{Path: p.PathWithNamespace, ProjectID: p.ID, DeletedAt: now, Purge: true}); err != nil {
		t.Fatal(err)
	}
	if left, err := svc.RetryPurges(ctx); err != nil || left != 1 {
		t.Fatalf("RetryPurges = %d, %v; want the path left reserved", left, err)
	}
	if ds, err := tokens.DeadPaths(ctx, s); err != nil || len(ds) != 1 {
		t.Fatalf("reservations after the purge: %v, %v; want the one kept", ds, err)
	}
	if len(images.purged) != 0 {
		t.Fatalf("purged %v while the project still lived", images.purged)
	}
	// A reservation whose delete failed long ago (the project lives on)
	// is released, and nothing is purged.
	now = now.Add(time.Hour)
	if left, err := svc.RetryPurges(ctx); err != nil || left != 0 {
		t.Fatalf("RetryPurges an hour on = %d, %v; want the stale reservation released", left, err)
	}
	if len(images.purged) != 0 {
		t.Fatalf("purged %v: a live project's images", images.purged)
	}
}

package tokens_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// unreplicatedOnce keeps the first PAT revocation it is given but answers
// it as a Redis master with a cut-off replica does: ErrNotReplicated, the
// write may or may not have been kept.
type unreplicatedOnce struct {
	tokens.Store
	failed atomic.Bool
}

func (s *unreplicatedOnce) RevokePAT(ctx context.Context, id int64) error {
	if err := s.Store.RevokePAT(ctx, id); err != nil {
		return err
	}
	if s.failed.CompareAndSwap(false, true) {
		return tokens.ErrNotReplicated
	}
	return nil
}

// TestRevokeRetryEndsTheRotatedFromPAT: revoking a PAT that was rotated
// with a grace ends the token it was rotated from too; when the first
// attempt answers 503 (kept, but not known to be replicated) and the
// client retries, the retry finds the PAT revoked already and must still
// end the older one. Found in review: the retry answered 204 and the old
// secret kept working through its grace.
func TestRevokeRetryEndsTheRotatedFromPAT(t *testing.T) {
	ctx := context.Background()
	bolt, keys := openStore(t)
	store := &unreplicatedOnce{Store: bolt}
	svc := &tokens.Service{Store: store, Keys: keys, RotationMaxGrace: 24 * time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	root := tokens.User{Username: "root", Name: "root", Admin: true, CreatedAt: time.Now()}
	if err := bolt.CreateUser(ctx, &root); err != nil {
		t.Fatal(err)
	}
	admin := &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	old, _, err := svc.CreatePAT(ctx, admin, root.ID, tokens.CreatePATInput{Name: "laptop", Scopes: []string{tokens.ScopeAPI}})
	if err != nil {
		t.Fatal(err)
	}
	rotated, _, err := svc.RotatePAT(ctx, admin, old.ID, "", "1h")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RevokePAT(ctx, admin, rotated.ID); err == nil {
		t.Fatal("the first revocation did not fail as the store answered")
	}
	if err := svc.RevokePAT(ctx, admin, rotated.ID); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	prev, err := bolt.PAT(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !prev.Revoked {
		t.Fatal("the PAT it was rotated from still works after the retried revocation")
	}
}

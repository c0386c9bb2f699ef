package tokens_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestScanExpiring: each token gets only its nearest stage, once per
// stage however often the scan runs; tokens without expiry, revoked ones
// and ones far from expiry get none.
func TestScanExpiring(t *testing.T) {
	ctx := context.Background()
	s, keys := openStore(t)
	start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start
	svc := &tokens.Service{Store: s, Keys: keys, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	root := tokens.User{Username: "root", Name: "root", Admin: true, CreatedAt: start}
	if err := s.CreateUser(ctx, &root); err != nil {
		t.Fatal(err)
	}
	admin := &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	if _, err := svc.CreateProject(ctx, admin, tokens.CreateProjectInput{Path: "app", NamespacePath: "tanuki"}); err != nil {
		t.Fatal(err)
	}
	mk := func(name, expires string) {
		if _, _, err := svc.CreateDeployToken(ctx, admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: name, Scopes: []string{"read_registry"}, ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}
	mk("soon", "2030-01-05")  // 3.5 days: 7d only
	mk("month", "2030-01-20") // 18.5 days: 30d
	mk("far", "2030-12-01")   // none yet
	mk("never", "")           // none ever
	mk("revoked", "2030-01-03")
	ts, _ := svc.ListDeployTokens(ctx, admin, "tanuki/app", false)
	if err := svc.RevokeDeployToken(ctx, admin, "tanuki/app", ts[4].ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want int
	}{
		{"first scan", start, 2},
		{"again", start.Add(time.Minute), 0},
		{"soon expired", time.Date(2030, 1, 5, 0, 0, 0, 0, time.UTC), 1},
		{"month at 7 days", time.Date(2030, 1, 13, 1, 0, 0, 0, time.UTC), 1},
		{"month expired, far at 60 days", time.Date(2030, 10, 3, 0, 0, 0, 0, time.UTC), 2},
		{"once more", time.Date(2030, 10, 3, 1, 0, 0, 0, time.UTC), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.at
			n, err := svc.ScanExpiring(ctx)
			if err != nil || n != tc.want {
				t.Fatalf("recorded %d (%v), want %d", n, err, tc.want)
			}
		})
	}
	es, _, err := s.PageEvents(ctx, tokens.EventQuery{Page: tokens.Page{Limit: 100}, Name: tokens.EventDeployTokenExpiring})
	if err != nil || len(es) != 4 {
		t.Fatalf("%d expiring events (%v), want 4", len(es), err)
	}
}

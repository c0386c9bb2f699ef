package tokens_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestScanExpiringSince: the scan reads from where the last complete scan
// looked, so a token that expired while no replica scanned still gets its
// event, a clock set back loses no token (that place moves back with it,
// or a token that expires before the place a clock ahead recorded would
// never be read once expired), and a value no version writes makes one
// scan read everything.
func TestScanExpiringSince(t *testing.T) {
	ctx := context.Background()
	s, keys := openStore(t)
	day := 24 * time.Hour
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
	mk := func(name string, after time.Duration) {
		t.Helper()
		in := tokens.CreateDeployTokenInput{Name: name, Scopes: []string{"read_registry"}, ExpiresAt: now.Add(after).Format(time.RFC3339)}
		if _, _, err := svc.CreateDeployToken(ctx, admin, "tanuki/app", in); err != nil {
			t.Fatal(err)
		}
	}
	const sinceKey = "expiry-scan:since"
	since := func() string {
		v, err := s.Get(ctx, sinceKey)
		if err != nil {
			t.Fatalf("Get(%s): %v", sinceKey, err)
		}
		return string(v)
	}
	tests := []struct {
		name   string
		at     time.Time
		before func()
		want   int
		since  time.Time
	}{
		{"first warning", start, func() { mk("a", 5*day) }, 1, start},
		{"expired while none scanned", start.Add(20 * day), nil, 1, start.Add(20 * day)},
		{"clock set back", start.Add(2 * day), func() { mk("b", 3*day) }, 1, start.Add(2 * day)},
		{"b expired", start.Add(21 * day), nil, 1, start.Add(21 * day)},
		{"a value no version writes", start.Add(21*day + time.Hour), func() {
			if err := s.CompareAndSwap(ctx, sinceKey, []byte(since()), []byte("garbage")); err != nil {
				t.Fatal(err)
			}
		}, 0, start.Add(21*day + time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.at
			if tc.before != nil {
				tc.before()
			}
			if n, err := svc.ScanExpiring(ctx); err != nil || n != tc.want {
				t.Fatalf("recorded %d (%v), want %d", n, err, tc.want)
			}
			if got, want := since(), tc.since.Format(time.RFC3339Nano); got != want {
				t.Errorf("since %s, want %s", got, want)
			}
		})
	}
}

package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testDeadPaths checks the reservations of deleted projects' paths, kept in
// the KV, on each store: they survive as written, a release takes exactly
// the one path, and concurrent writers (replicas deleting projects and
// purging at once) lose nothing.
func testDeadPaths(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	at := when.UTC()
	paths := func() []string {
		t.Helper()
		ds, err := tokens.DeadPaths(ctx, s)
		if err != nil {
			t.Fatalf("DeadPaths: %v", err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, d.Path)
		}
		return out
	}
	if ds, err := tokens.DeadPaths(ctx, s); err != nil || len(ds) != 0 {
		t.Fatalf("DeadPaths of an empty store = %v, %v; want none", ds, err)
	}
	old := tokens.DeadPath{Path: "Old/Img", ProjectID: 7, DeletedAt: at, Purge: true}
	if err := tokens.ReserveDeadPath(ctx, s, old); err != nil {
		t.Fatalf("ReserveDeadPath: %v", err)
	}
	if err := tokens.ReserveDeadPath(ctx, s, tokens.DeadPath{Path: "other/app", ProjectID: 8, DeletedAt: at}); err != nil {
		t.Fatalf("ReserveDeadPath: %v", err)
	}
	ds, err := tokens.DeadPaths(ctx, s)
	if err != nil {
		t.Fatalf("DeadPaths: %v", err)
	}
	wantEqual(t, "DeadPaths", ds, []tokens.DeadPath{old, {Path: "other/app", ProjectID: 8, DeletedAt: at}})

	// A path deleted again replaces its reservation instead of adding one.
	again := tokens.DeadPath{Path: "old/img", ProjectID: 9, DeletedAt: at.Add(time.Hour)}
	if err := tokens.ReserveDeadPath(ctx, s, again); err != nil {
		t.Fatalf("ReserveDeadPath again: %v", err)
	}
	wantEqual(t, "paths after a second reservation", paths(), []string{"other/app", "old/img"})

	if err := tokens.ReleaseDeadPath(ctx, s, "OLD/IMG"); err != nil {
		t.Errorf("ReleaseDeadPath(OLD/IMG): %v", err)
	}
	wantErr(t, "ReleaseDeadPath twice", tokens.ReleaseDeadPath(ctx, s, "old/img"), tokens.ErrNotFound)
	wantErr(t, "ReleaseDeadPath(old), above a reserved path", tokens.ReleaseDeadPath(ctx, s, "other"), tokens.ErrNotFound)
	if err := tokens.ReleaseDeadPath(ctx, s, "other/app"); err != nil {
		t.Errorf("ReleaseDeadPath(other/app): %v", err)
	}
	if got := paths(); len(got) != 0 {
		t.Errorf("paths after releasing all = %v", got)
	}

	const n = 24
	t.Run("concurrent reservations", func(t *testing.T) {
		errs := race(n, func(i int) error {
			return tokens.ReserveDeadPath(ctx, s, tokens.DeadPath{Path: fmt.Sprintf("grp/p%02d", i), ProjectID: int64(i), DeletedAt: at})
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("ReserveDeadPath: %v", err)
		}
		got := paths()
		slices.Sort(got)
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("grp/p%02d", i)
		}
		wantEqual(t, "paths after concurrent reservations", got, want)
	})
	t.Run("concurrent releases of one path", func(t *testing.T) {
		errs := race(n, func(i int) error { return tokens.ReleaseDeadPath(ctx, s, "grp/p00") })
		released := 0
		for _, err := range errs {
			if err == nil {
				released++
			} else if !errors.Is(err, tokens.ErrNotFound) {
				t.Errorf("ReleaseDeadPath: %v", err)
			}
		}
		if released != 1 {
			t.Errorf("%d releases succeeded, want 1", released)
		}
		if got := paths(); len(got) != n-1 || slices.Contains(got, "grp/p00") {
			t.Errorf("paths after the releases = %v", got)
		}
	})
}

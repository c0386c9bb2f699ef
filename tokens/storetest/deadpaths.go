package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testDeadPaths checks the reservations of deleted projects' paths on each
// store: they survive as written, are found by the path they cover, page
// in path order, a release takes exactly the one path, and concurrent
// writers (replicas deleting projects and purging at once) lose nothing.
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
	if err := s.ReserveDeadPath(ctx, old); err != nil {
		t.Fatalf("ReserveDeadPath: %v", err)
	}
	other := tokens.DeadPath{Path: "other/app", ProjectID: 8, DeletedAt: at}
	if err := s.ReserveDeadPath(ctx, other); err != nil {
		t.Fatalf("ReserveDeadPath: %v", err)
	}
	ds, err := tokens.DeadPaths(ctx, s)
	if err != nil {
		t.Fatalf("DeadPaths: %v", err)
	}
	wantEqual(t, "DeadPaths", ds, []tokens.DeadPath{old, other})

	for _, tt := range []struct {
		name, path string
		want       *tokens.DeadPath // nil: ErrNotFound
		exact      *tokens.DeadPath
	}{
		{name: "same path", path: "old/img", want: &old, exact: &old},
		{name: "same path, other case", path: "OLD/IMG", want: &old, exact: &old},
		{name: "inside", path: "old/img/sub/x", want: &old},
		{name: "around", path: "Old", want: &old},
		{name: "sibling", path: "old/img2"},
		{name: "prefix without slash", path: "old/im"},
		{name: "unrelated", path: "new/img"},
	} {
		t.Run("covering "+tt.name, func(t *testing.T) {
			got, err := s.DeadPathCovering(ctx, tt.path)
			if tt.want == nil {
				wantErr(t, "DeadPathCovering", err, tokens.ErrNotFound)
			} else if err != nil {
				t.Errorf("DeadPathCovering: %v", err)
			} else {
				wantEqual(t, "DeadPathCovering", got, *tt.want)
			}
			got, err = s.DeadPath(ctx, tt.path)
			if tt.exact == nil {
				wantErr(t, "DeadPath", err, tokens.ErrNotFound)
			} else if err != nil {
				t.Errorf("DeadPath: %v", err)
			} else {
				wantEqual(t, "DeadPath", got, *tt.exact)
			}
		})
	}

	// A path deleted again replaces its reservation instead of adding one.
	again := tokens.DeadPath{Path: "old/img", ProjectID: 9, DeletedAt: at.Add(time.Hour)}
	if err := s.ReserveDeadPath(ctx, again); err != nil {
		t.Fatalf("ReserveDeadPath again: %v", err)
	}
	wantEqual(t, "paths after a second reservation", paths(), []string{"old/img", "other/app"})

	purgedAt := at.Add(2 * time.Hour)
	wantErr(t, "MarkDeadPathPurged of another project", s.MarkDeadPathPurged(ctx, "old/img", 7, purgedAt), tokens.ErrNotFound)
	if err := s.MarkDeadPathPurged(ctx, "OLD/img", 9, purgedAt); err != nil {
		t.Errorf("MarkDeadPathPurged: %v", err)
	}
	wantErr(t, "MarkDeadPathPurged twice", s.MarkDeadPathPurged(ctx, "old/img", 9, purgedAt.Add(time.Hour)), tokens.ErrNotFound)
	if d, err := s.DeadPath(ctx, "old/img"); err != nil || !d.PurgedAt.Equal(purgedAt) {
		t.Errorf("DeadPath after MarkDeadPathPurged = %+v, %v; want purged at %v", d, err, purgedAt)
	}

	wantErr(t, "ReleaseDeadPath of another project", s.ReleaseDeadPath(ctx, "old/img", 7), tokens.ErrNotFound)
	if err := s.ReleaseDeadPath(ctx, "OLD/IMG", 9); err != nil {
		t.Errorf("ReleaseDeadPath(OLD/IMG): %v", err)
	}
	wantErr(t, "ReleaseDeadPath twice", s.ReleaseDeadPath(ctx, "old/img", 0), tokens.ErrNotFound)
	wantErr(t, "ReleaseDeadPath(other), above a reserved path", s.ReleaseDeadPath(ctx, "other", 0), tokens.ErrNotFound)
	if err := s.ReleaseDeadPath(ctx, "other/app", 0); err != nil {
		t.Errorf("ReleaseDeadPath(other/app): %v", err)
	}
	if got := paths(); len(got) != 0 {
		t.Errorf("paths after releasing all = %v", got)
	}

	const n = 24
	t.Run("concurrent reservations", func(t *testing.T) {
		errs := race(n, func(i int) error {
			return s.ReserveDeadPath(ctx, tokens.DeadPath{Path: fmt.Sprintf("grp/p%02d", i), ProjectID: int64(i), DeletedAt: at})
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("ReserveDeadPath: %v", err)
		}
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("grp/p%02d", i)
		}
		wantEqual(t, "paths after concurrent reservations", paths(), want)
	})
	t.Run("pages", func(t *testing.T) {
		for _, tt := range []struct {
			page tokens.Page
			want []string
		}{
			{tokens.Page{Offset: 0, Limit: 2}, []string{"grp/p00", "grp/p01"}},
			{tokens.Page{Offset: 22, Limit: 5}, []string{"grp/p22", "grp/p23"}},
			{tokens.Page{Offset: 24, Limit: 5}, nil},
			{tokens.Page{Offset: 3, Limit: 0}, nil},
		} {
			ds, total, err := s.ListDeadPaths(ctx, tt.page)
			if err != nil {
				t.Fatalf("ListDeadPaths(%+v): %v", tt.page, err)
			}
			var got []string
			for _, d := range ds {
				got = append(got, d.Path)
			}
			wantEqual(t, fmt.Sprintf("ListDeadPaths(%+v)", tt.page), got, tt.want)
			if total != n {
				t.Errorf("ListDeadPaths(%+v) total = %d, want %d", tt.page, total, n)
			}
		}
	})
	t.Run("concurrent releases of one path", func(t *testing.T) {
		errs := race(n, func(i int) error { return s.ReleaseDeadPath(ctx, "grp/p00", 0) })
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
		if _, total, err := s.ListDeadPaths(ctx, tokens.Page{}); err != nil || total != n-1 {
			t.Errorf("ListDeadPaths total after the releases = %d, %v; want %d", total, err, n-1)
		}
	})
}

// testDeleteProjectReserving checks that deleting a project reserves its
// path in the same step, and that CreateProject refuses what a reservation
// covers in its own: a create racing a delete-and-reserve of the same path
// always loses (the path is the old project's until the reservation is
// there), and a delete-and-reserve never lands on a project created after
// it (it names the project by ID, and reserves nothing once it is gone).
func testDeleteProjectReserving(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	at := when.UTC()
	u := tokens.User{Username: "reserver", CreatedAt: at}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	owner := tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner, CreatedAt: at}
	create := func(path string) (tokens.Project, error) {
		p := tokens.Project{Path: path[len(path)-1:], PathWithNamespace: path, Visibility: tokens.Private, CreatorID: u.ID, CreatedAt: at}
		err := s.CreateProject(ctx, &p, owner)
		return p, err
	}
	p, err := create("Dead/Img")
	if err != nil {
		t.Fatal(err)
	}
	tok := tokens.DeployToken{ProjectID: p.ID, Name: "pull", Scopes: []string{tokens.ScopeReadRegistry}, CreatedAt: at, Digest: digest("dead pull")}
	if err := s.CreateDeployToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	d, err := s.DeleteProjectReserving(ctx, p.ID, tokens.DeadPath{Path: "ignored", ProjectID: 99, DeletedAt: at, Purge: true})
	if err != nil {
		t.Fatalf("DeleteProjectReserving: %v", err)
	}
	want := tokens.DeadPath{Path: "Dead/Img", ProjectID: p.ID, DeletedAt: at, Purge: true}
	wantEqual(t, "DeleteProjectReserving", d, want)
	if got, err := s.DeadPath(ctx, "dead/img"); err != nil {
		t.Errorf("DeadPath: %v", err)
	} else {
		wantEqual(t, "DeadPath", got, want)
	}
	_, err = s.Project(ctx, p.ID)
	wantErr(t, "Project after DeleteProjectReserving", err, tokens.ErrNotFound)
	_, _, err = s.DeployTokenByDigest(ctx, digest("dead pull"))
	wantErr(t, "DeployTokenByDigest after DeleteProjectReserving", err, tokens.ErrNotFound)
	_, err = s.DeleteProjectReserving(ctx, p.ID, tokens.DeadPath{DeletedAt: at})
	wantErr(t, "DeleteProjectReserving twice", err, tokens.ErrNotFound)
	if got := mustDeadPaths(t, s); len(got) != 1 {
		t.Errorf("reservations after deleting twice = %+v, want the one", got)
	}

	for _, tt := range []struct{ name, path string }{
		{"same path", "dead/img"},
		{"same path, other case", "DEAD/IMG"},
		{"inside", "dead/img/sub"},
		{"around", "dead"},
	} {
		t.Run("create "+tt.name, func(t *testing.T) {
			_, err := create(tt.path)
			wantErr(t, "CreateProject", err, tokens.ErrReserved)
			_, err = s.ProjectByPath(ctx, tt.path)
			wantErr(t, "ProjectByPath", err, tokens.ErrNotFound)
		})
	}
	if _, err := create("dead/img2"); err != nil {
		t.Errorf("CreateProject beside a reserved path: %v", err)
	}
	if err := s.ReleaseDeadPath(ctx, "dead/img", p.ID); err != nil {
		t.Fatalf("ReleaseDeadPath: %v", err)
	}
	if _, err := create("dead/img"); err != nil {
		t.Errorf("CreateProject at a released path: %v", err)
	}

	const n = 16
	t.Run("create racing a delete-and-reserve", func(t *testing.T) {
		for _, tt := range []struct{ name, old, create string }{
			{"same path", "same%02d/app", "same%02d/app"},
			{"inside", "in%02d/app", "in%02d/app/sub"},
			{"around", "around%02d/app", "around%02d"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				olds := make([]tokens.Project, n)
				for i := range olds {
					var err error
					if olds[i], err = create(fmt.Sprintf(tt.old, i)); err != nil {
						t.Fatal(err)
					}
				}
				errs := race(2*n, func(i int) error {
					if i%2 == 0 {
						_, err := s.DeleteProjectReserving(ctx, olds[i/2].ID, tokens.DeadPath{DeletedAt: at})
						return err
					}
					_, err := create(fmt.Sprintf(tt.create, i/2))
					return err
				})
				for i, err := range errs {
					if i%2 == 0 {
						if err != nil {
							t.Errorf("DeleteProjectReserving: %v", err)
						}
						continue
					}
					// Before the delete the old project holds the path
					// (ErrConflict, or ErrNested inside or around it);
					// after it, the reservation does.
					if !errors.Is(err, tokens.ErrConflict) && !errors.Is(err, tokens.ErrNested) && !errors.Is(err, tokens.ErrReserved) {
						t.Errorf("CreateProject %d: error %v, want it refused", i/2, err)
					}
				}
				for i, old := range olds {
					if _, err := s.DeadPath(ctx, old.PathWithNamespace); err != nil {
						t.Errorf("reservation %d: %v", i, err)
					}
				}
			})
		}
	})
	t.Run("delete-and-reserve of a project already gone", func(t *testing.T) {
		// The older project was deleted (without a reservation, as an
		// undone create is) and a new one took its path: a late
		// delete-and-reserve of the older one reserves nothing.
		older, err := create("late/app")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteProject(ctx, older.ID); err != nil {
			t.Fatal(err)
		}
		newer, err := create("late/app")
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.DeleteProjectReserving(ctx, older.ID, tokens.DeadPath{DeletedAt: at})
		wantErr(t, "DeleteProjectReserving of the older project", err, tokens.ErrNotFound)
		if _, err := s.DeadPath(ctx, "late/app"); !errors.Is(err, tokens.ErrNotFound) {
			t.Errorf("late/app reserved over the newer project: %v", err)
		}
		if got, err := s.ProjectByPath(ctx, "late/app"); err != nil || got.ID != newer.ID {
			t.Errorf("ProjectByPath = %+v, %v; want the newer project", got, err)
		}
	})
}

func mustDeadPaths(t *testing.T, s tokens.Store) []tokens.DeadPath {
	t.Helper()
	ds, err := tokens.DeadPaths(t.Context(), s)
	if err != nil {
		t.Fatalf("DeadPaths: %v", err)
	}
	return ds
}

// RunDeadPathsMigration checks that a store that finds the reservations
// of an older version (one JSON array at tokens.LegacyDeadPathsKey) when
// it opens moves them into its records, once. open answers an empty store;
// reopen closes s and opens the same data again.
func RunDeadPathsMigration(t *testing.T, open func(t *testing.T) tokens.Store, reopen func(t *testing.T, s tokens.Store) tokens.Store) {
	ctx := t.Context()
	at := when.UTC()
	legacy := []tokens.DeadPath{
		{Path: "Old/Img", ProjectID: 7, DeletedAt: at, Purge: true, PurgedAt: at.Add(time.Minute)},
		{Path: "keep/app", ProjectID: 8, DeletedAt: at.Add(time.Hour)},
	}
	raw, err := json.Marshal(legacy)
	if err != nil {
		t.Fatal(err)
	}
	s := open(t)
	u := tokens.User{Username: "migrant", CreatedAt: at}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, tokens.LegacyDeadPathsKey, raw, 0); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	// Oldest first before, path order now: the same two here.
	wantEqual(t, "reservations after the migration", mustDeadPaths(t, s), []tokens.DeadPath{legacy[1], legacy[0]})
	_, err = s.Get(ctx, tokens.LegacyDeadPathsKey)
	wantErr(t, "the old key after the migration", err, tokens.ErrNotFound)
	p := tokens.Project{Path: "sub", PathWithNamespace: "old/img/sub", CreatorID: u.ID, CreatedAt: at}
	wantErr(t, "CreateProject inside a migrated reservation", s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner, CreatedAt: at}), tokens.ErrReserved)

	// Once: a release after it stays released when the store opens again.
	if err := s.ReleaseDeadPath(ctx, "keep/app", 0); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	wantEqual(t, "reservations after opening again", mustDeadPaths(t, s), []tokens.DeadPath{legacy[0]})
}

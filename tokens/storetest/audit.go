package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testAuditEvents checks the audit trail's lists: the instance's, a
// project's and a group's, newest first, paged, filtered by name and time,
// the Once marker, and the retention sweep.
func testAuditEvents(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type spec struct {
		name           string
		project, group int64
		at             int // minutes after base
	}
	specs := []spec{
		{tokens.EventDeployTokenCreated, 1, 0, 0},
		{tokens.EventDeployTokenRevoked, 1, 0, 1},
		{tokens.EventDeployTokenCreated, 0, 7, 2},
		{tokens.EventMemberCreated, 2, 0, 3},
		{tokens.EventCIDeployPassword, 1, 7, 4},
		{tokens.EventSignInBan, 0, 0, 5},
		{tokens.EventDeployTokenCreated, 1, 0, 6},
	}
	ids := make([]int64, len(specs))
	for i, sp := range specs {
		e := tokens.AuditEvent{Name: sp.name, ProjectID: sp.project, GroupID: sp.group, AuthorKind: tokens.AuthorUser,
			AuthorID: 3, AuthorName: "alice", IPAddress: "192.0.2.1", CreatedAt: base.Add(time.Duration(sp.at) * time.Minute)}
		if err := s.AppendEvent(ctx, &e, nil); err != nil {
			t.Fatalf("AppendEvent %d: %v", i, err)
		}
		if e.ID == 0 || (i > 0 && e.ID <= ids[i-1]) {
			t.Fatalf("AppendEvent %d: id %d after %v", i, e.ID, ids[:i])
		}
		ids[i] = e.ID
	}
	all := tokens.Page{Limit: 100}
	tests := []struct {
		name  string
		q     tokens.EventQuery
		want  []int // indexes into specs, newest first
		total int
	}{
		{"instance", tokens.EventQuery{Page: all}, []int{6, 5, 4, 3, 2, 1, 0}, 7},
		{"project", tokens.EventQuery{Page: all, ProjectID: 1}, []int{6, 4, 1, 0}, 4},
		{"group", tokens.EventQuery{Page: all, GroupID: 7}, []int{4, 2}, 2},
		{"other project", tokens.EventQuery{Page: all, ProjectID: 2}, []int{3}, 1},
		{"unknown project", tokens.EventQuery{Page: all, ProjectID: 99}, nil, 0},
		{"name", tokens.EventQuery{Page: all, Name: tokens.EventDeployTokenCreated}, []int{6, 2, 0}, 3},
		{"project and name", tokens.EventQuery{Page: all, ProjectID: 1, Name: tokens.EventDeployTokenCreated}, []int{6, 0}, 2},
		{"after", tokens.EventQuery{Page: all, After: base.Add(4 * time.Minute)}, []int{6, 5, 4}, 3},
		{"before", tokens.EventQuery{Page: all, Before: base.Add(1 * time.Minute)}, []int{1, 0}, 2},
		{"between", tokens.EventQuery{Page: all, After: base.Add(2 * time.Minute), Before: base.Add(3 * time.Minute)}, []int{3, 2}, 2},
		{"first page", tokens.EventQuery{Page: tokens.Page{Limit: 3}}, []int{6, 5, 4}, 7},
		{"second page", tokens.EventQuery{Page: tokens.Page{Offset: 3, Limit: 3}}, []int{3, 2, 1}, 7},
		{"last page", tokens.EventQuery{Page: tokens.Page{Offset: 6, Limit: 3}}, []int{0}, 7},
		{"past the end", tokens.EventQuery{Page: tokens.Page{Offset: 9, Limit: 3}}, nil, 7},
		{"count only", tokens.EventQuery{ProjectID: 1}, nil, 4},
		{"name filter and page", tokens.EventQuery{Page: tokens.Page{Offset: 1, Limit: 1}, Name: tokens.EventDeployTokenCreated}, []int{2}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.PageEvents(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs, wantIDs []int64
			for _, e := range got {
				gotIDs = append(gotIDs, e.ID)
			}
			for _, i := range tt.want {
				wantIDs = append(wantIDs, ids[i])
			}
			if total != tt.total || !slices.Equal(gotIDs, wantIDs) {
				t.Fatalf("got %v (total %d), want %v (total %d)", gotIDs, total, wantIDs, tt.total)
			}
		})
	}

	t.Run("fields kept", func(t *testing.T) {
		got, _, err := s.PageEvents(ctx, tokens.EventQuery{Page: tokens.Page{Limit: 1}, GroupID: 7, Name: tokens.EventCIDeployPassword})
		if err != nil || len(got) != 1 {
			t.Fatalf("%v, %v", got, err)
		}
		e := got[0]
		if e.AuthorName != "alice" || e.AuthorID != 3 || e.IPAddress != "192.0.2.1" || e.ProjectID != 1 || e.GroupID != 7 || !e.CreatedAt.Equal(base.Add(4*time.Minute)) {
			t.Fatalf("event read back as %+v", e)
		}
	})

	t.Run("once", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				e := tokens.AuditEvent{Name: tokens.EventDeployTokenExpired, ProjectID: 5, CreatedAt: base, Once: "expiry:1:expired"}
				errs[i] = s.AppendEvent(ctx, &e, nil)
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, tokens.ErrConflict):
				t.Fatalf("AppendEvent: %v", err)
			}
		}
		_, n, err := s.PageEvents(ctx, tokens.EventQuery{ProjectID: 5})
		if ok != 1 || n != 1 || err != nil {
			t.Fatalf("%d appends of one Once succeeded, %d stored (%v); want 1", ok, n, err)
		}
	})

	t.Run("sweep", func(t *testing.T) {
		n, err := s.SweepEvents(ctx, base.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		// Specs 0 and 1, and the once event at base.
		if n != 3 {
			t.Fatalf("swept %d, want 3", n)
		}
		for _, q := range []tokens.EventQuery{{}, {ProjectID: 1}, {Name: tokens.EventDeployTokenCreated}, {ProjectID: 1, Name: tokens.EventDeployTokenRevoked}} {
			got, total, err := s.PageEvents(ctx, tokens.EventQuery{Page: all, ProjectID: q.ProjectID, Name: q.Name})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range got {
				if e.CreatedAt.Before(base.Add(2 * time.Minute)) {
					t.Fatalf("%+v: event %d of %s kept", q, e.ID, e.CreatedAt)
				}
			}
			if total != len(got) {
				t.Fatalf("%+v: total %d for %d events", q, total, len(got))
			}
		}
		if n, err := s.SweepEvents(ctx, base.Add(2*time.Minute)); n != 0 || err != nil {
			t.Fatalf("second sweep: %d, %v", n, err)
		}
	})
}

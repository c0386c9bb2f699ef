package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testActivePages checks the lists of active deploy tokens (of a project,
// of a group, of all) against the whole lists filtered by Active, at
// clocks moving forward and back, through creates (before and after a
// watermark passed their expiry), revocations and deletions.
func testActivePages(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	// Whole milliseconds: the stores keep expiries to the millisecond.
	base := when.Truncate(time.Millisecond)
	at := func(d time.Duration) *time.Time { x := base.Add(d); return &x }
	owner := mustUser(t, s, "active-owner")
	p := mustProject(t, s, "active/app", owner)
	other := mustProject(t, s, "active/other", owner)
	g := mustGroup(t, s, "active-group", tokens.Group{}, owner)
	n := 0
	mk := func(d tokens.DeployToken) tokens.DeployToken {
		t.Helper()
		n++
		d.Name, d.Scopes, d.CreatedAt, d.CreatorID, d.Digest = "t", []string{tokens.ScopeReadRegistry}, base, owner.ID, digest(fmt.Sprint("active-", n))
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatalf("CreateDeployToken: %v", err)
		}
		return d
	}
	mk(tokens.DeployToken{ProjectID: p.ID})
	mk(tokens.DeployToken{ProjectID: p.ID, ExpiresAt: at(time.Hour)})
	mk(tokens.DeployToken{ProjectID: p.ID, ExpiresAt: at(2 * time.Hour)})
	revoked := mk(tokens.DeployToken{ProjectID: p.ID, ExpiresAt: at(3 * time.Hour)})
	mk(tokens.DeployToken{ProjectID: p.ID})
	mk(tokens.DeployToken{ProjectID: other.ID, ExpiresAt: at(time.Hour)})
	mk(tokens.DeployToken{GroupID: g.ID, ExpiresAt: at(time.Hour)})
	groupRevoked := mk(tokens.DeployToken{GroupID: g.ID})
	mk(tokens.DeployToken{GroupID: g.ID})
	mk(tokens.DeployToken{ProjectID: p.ID, ExpiresAt: at(-time.Hour)}) // expired when made
	if err := s.RevokeDeployToken(ctx, p.ID, revoked.ID); err != nil {
		t.Fatalf("RevokeDeployToken: %v", err)
	}
	if err := s.RevokeGroupDeployToken(ctx, g.ID, groupRevoked.ID); err != nil {
		t.Fatalf("RevokeGroupDeployToken: %v", err)
	}

	type list struct {
		name  string
		l     tokens.DeployTokenList
		whole func() ([]tokens.DeployToken, error)
	}
	lists := []list{
		{"project", tokens.DeployTokenList{ProjectID: p.ID}, func() ([]tokens.DeployToken, error) { return s.ListDeployTokens(ctx, p.ID) }},
		{"other project", tokens.DeployTokenList{ProjectID: other.ID}, func() ([]tokens.DeployToken, error) { return s.ListDeployTokens(ctx, other.ID) }},
		{"group", tokens.DeployTokenList{GroupID: g.ID}, func() ([]tokens.DeployToken, error) { return s.ListGroupDeployTokens(ctx, g.ID) }},
		{"all", tokens.DeployTokenList{}, func() ([]tokens.DeployToken, error) { return s.ListAllDeployTokens(ctx) }},
	}
	ids := func(ts []tokens.DeployToken) []int64 {
		var out []int64
		for _, d := range ts {
			out = append(out, d.ID)
		}
		return out
	}
	// check compares every list at now, whole and by pages of two, with
	// its whole list filtered by Active.
	check := func(t *testing.T, now time.Time) {
		t.Helper()
		for _, li := range lists {
			whole, err := li.whole()
			if err != nil {
				t.Fatalf("%s: %v", li.name, err)
			}
			want := ids(slices.DeleteFunc(whole, func(d tokens.DeployToken) bool { return !d.Active(now) }))
			var got []int64
			for off := 0; off <= len(want); off += 2 {
				page, total, err := s.PageActiveDeployTokens(ctx, li.l, now, tokens.Page{Offset: off, Limit: 2})
				if err != nil || total != len(want) {
					t.Fatalf("%s at %v, offset %d: total %d, %v; want %d", li.name, now.Sub(base), off, total, err, len(want))
				}
				got = append(got, ids(page)...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s at %v: %v, want %v", li.name, now.Sub(base), got, want)
			}
		}
	}
	steps := []struct {
		name string
		now  time.Duration
		then func(t *testing.T)
	}{
		{name: "now", now: 0},
		{name: "an hour on: the first expiries, exactly at their time", now: time.Hour},
		{name: "later still", now: 150 * time.Minute},
		{name: "the clock back", now: 30 * time.Minute},
		{name: "forward again", now: 4 * time.Hour, then: func(t *testing.T) {
			// Past the watermark when made: never in the list at 4h.
			mk(tokens.DeployToken{ProjectID: p.ID, ExpiresAt: at(3 * time.Hour)})
			mk(tokens.DeployToken{GroupID: g.ID, ExpiresAt: at(5 * time.Hour)})
		}},
		{name: "after creates", now: 4 * time.Hour},
		{name: "back before their expiry", now: 150 * time.Minute},
		{name: "project deleted", now: 0, then: func(t *testing.T) {
			if err := s.DeleteProject(ctx, other.ID); err != nil {
				t.Fatalf("DeleteProject: %v", err)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.then != nil {
				st.then(t)
			}
			check(t, base.Add(st.now))
		})
	}
	t.Run("group deleted", func(t *testing.T) {
		if err := s.DeleteGroup(ctx, g.ID); err != nil {
			t.Fatalf("DeleteGroup: %v", err)
		}
		lists = []list{lists[0], lists[3]}
		check(t, base.Add(30*time.Minute))
		if _, total, err := s.PageActiveDeployTokens(ctx, tokens.DeployTokenList{GroupID: g.ID}, base, tokens.Page{Limit: 2}); err != nil || total != 0 {
			t.Errorf("deleted group: total %d, %v; want 0", total, err)
		}
	})
}

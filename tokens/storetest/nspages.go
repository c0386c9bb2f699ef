package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// testPageGroups pages through every group by position, as an admin's
// GET /groups and GET /namespaces do: groups at every depth, a deleted one
// gone from both the pages and the total, which CountGroups agrees with.
func testPageGroups(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "grouper")

	if got, total, err := s.PageGroups(ctx, tokens.Page{Limit: 10}); err != nil || len(got) != 0 || total != 0 {
		t.Fatalf("PageGroups of none = %v of %d, %v; want none of 0", got, total, err)
	}

	var want []int64
	top := mustGroup(t, s, "top", tokens.Group{}, owner)
	want = append(want, top.ID)
	for i := range 3 {
		sub := mustGroup(t, s, fmt.Sprintf("top/sub%d", i), top, owner)
		want = append(want, sub.ID)
		want = append(want, mustGroup(t, s, fmt.Sprintf("top/sub%d/leaf", i), sub, owner).ID)
	}
	want = append(want, mustGroup(t, s, "second", tokens.Group{}, owner).ID)
	gone := want[3] // top/sub1, whose leaf goes first
	if err := s.DeleteGroup(ctx, want[4]); err != nil {
		t.Fatalf("DeleteGroup(leaf): %v", err)
	}
	if err := s.DeleteGroup(ctx, gone); err != nil {
		t.Fatalf("DeleteGroup(sub): %v", err)
	}
	want = slices.Delete(want, 3, 5)
	n := len(want)

	pages := []struct {
		name string
		page tokens.Page
	}{
		{"first", tokens.Page{Offset: 0, Limit: 2}},
		{"middle", tokens.Page{Offset: 2, Limit: 2}},
		{"last", tokens.Page{Offset: 2 * ((n - 1) / 2), Limit: 2}},
		{"odd offset", tokens.Page{Offset: 3, Limit: 3}},
		{"past the end", tokens.Page{Offset: n + 3, Limit: 2}},
		{"whole", tokens.Page{Offset: 0, Limit: 100}},
		{"no limit", tokens.Page{Offset: 0, Limit: 0}},
	}
	for _, pg := range pages {
		t.Run(pg.name, func(t *testing.T) {
			gs, total, err := s.PageGroups(ctx, pg.page)
			if err != nil {
				t.Fatalf("PageGroups: %v", err)
			}
			got := make([]int64, 0, len(gs))
			for _, g := range gs {
				got = append(got, g.ID)
				if g.FullPath == "" || g.CreatorID != owner.ID {
					t.Errorf("group %d read as %+v", g.ID, g)
				}
			}
			if w := tokens.PageOf(want, pg.page); !slices.Equal(got, w) || total != n {
				t.Errorf("page %+v = %v of %d; want %v of %d", pg.page, got, total, w, n)
			}
		})
	}
	if c, err := s.CountGroups(ctx); err != nil || c != n {
		t.Errorf("CountGroups = %d, %v; want %d", c, err, n)
	}
}

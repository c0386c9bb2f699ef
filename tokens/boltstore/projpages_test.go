package boltstore_test

import (
	"slices"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestProjectIndexOnOlderFiles: a file written before the project indexes
// and the counts of a project's deploy tokens and members existed (the fixture, which
// has the other counts) gets them filled when it is opened.
func TestProjectIndexOnOlderFiles(t *testing.T) {
	s := openFixture(t, "2026-12-08.db")
	ctx := t.Context()
	ids := func(ps []tokens.Project) []int64 {
		var out []int64
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	projects := []struct {
		index tokens.ProjectIndex
		want  []int64
	}{
		{tokens.AllProjects, []int64{1, 2, 3, 5}},
		{tokens.InternalProjects, []int64{2, 3}},
		{tokens.PublicProjects, []int64{3}},
	}
	for _, tt := range projects {
		ps, total, err := s.PageProjects(ctx, tt.index, tokens.Page{Limit: 100})
		if err != nil || total != len(tt.want) || !slices.Equal(ids(ps), tt.want) {
			t.Errorf("PageProjects(%d) = %v of %d, %v; want %v", tt.index, ids(ps), total, err, tt.want)
		}
	}
	perProject := map[int64]int{}
	for _, d := range fxTokens {
		if d.ProjectID != 0 {
			perProject[d.ProjectID]++
		}
	}
	for pid, want := range perProject {
		if _, total, err := s.PageDeployTokens(ctx, pid, tokens.Page{Limit: 1}); err != nil || total != want {
			t.Errorf("PageDeployTokens(%d): total %d, %v; want %d", pid, total, err, want)
		}
	}
	for pid, ms := range fxMembers {
		if _, total, err := s.PageMembers(ctx, pid, tokens.Page{Limit: 1}); err != nil || total != len(ms) {
			t.Errorf("PageMembers(%d): total %d, %v; want %d", pid, total, err, len(ms))
		}
	}
	if len(perProject) == 0 {
		t.Fatal("the fixture has no project deploy tokens")
	}
}

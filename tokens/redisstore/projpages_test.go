package redisstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// TestProjectIndexesOnOlderData: a database written before the project
// indexes and the sorted sets of a project's deploy tokens and members
// existed gets
// them filled by New.
func TestProjectIndexesOnOlderData(t *testing.T) {
	c, open := reopenable(t)
	ctx := t.Context()
	s := open()
	u := tokens.User{Username: "alice", CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	var ps []tokens.Project
	for i, v := range []tokens.Visibility{tokens.Private, tokens.Internal, tokens.Public} {
		p := tokens.Project{Path: fmt.Sprint("app", i), PathWithNamespace: fmt.Sprint("alice/app", i), Visibility: v, CreatorID: u.ID}
		if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for i := range 3 {
		d := tokens.DeployToken{ProjectID: ps[0].ID, Name: "t", Scopes: []string{tokens.ScopeReadRegistry}, Digest: fmt.Appendf(nil, "d%d", i)}
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	// What an older version left: no sorted sets, no marker.
	k := func(name string) string { return redisstore.DefaultPrefix + "{dt}:" + name }
	if err := c.Del(ctx, k("pa:all"), k("pa:internal"), k("pa:public"), k("pa:filled"), k(fmt.Sprint("pdz:", ps[0].ID)), k(fmt.Sprint("pmz:", ps[0].ID))).Err(); err != nil {
		t.Fatal(err)
	}
	s = open()
	ids := func(ps []tokens.Project) []int64 {
		var out []int64
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	for _, tt := range []struct {
		index tokens.ProjectIndex
		want  []int64
	}{
		{tokens.AllProjects, []int64{ps[0].ID, ps[1].ID, ps[2].ID}},
		{tokens.InternalProjects, []int64{ps[1].ID, ps[2].ID}},
		{tokens.PublicProjects, []int64{ps[2].ID}},
	} {
		got, total, err := s.PageProjects(ctx, tt.index, tokens.Page{Limit: 100})
		if err != nil || total != len(tt.want) || !slices.Equal(ids(got), tt.want) {
			t.Errorf("PageProjects(%d) = %v of %d, %v; want %v", tt.index, ids(got), total, err, tt.want)
		}
	}
	if _, total, err := s.PageDeployTokens(ctx, ps[0].ID, tokens.Page{Limit: 1}); err != nil || total != 3 {
		t.Errorf("PageDeployTokens: total %d, %v; want 3", total, err)
	}
	if ms, total, err := s.PageMembers(ctx, ps[0].ID, tokens.Page{Limit: 1}); err != nil || total != 1 || len(ms) != 1 || ms[0].UserID != u.ID {
		t.Errorf("PageMembers: %v of %d, %v; want the owner", ms, total, err)
	}
}

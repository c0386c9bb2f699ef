package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// testProjectPages checks the project indexes, a project's deploy tokens
// and its members page by page (first, middle, last, past the end), their totals
// after creates, visibility changes and deletes, keyset reads both ways,
// ranks, and the paths under a prefix.
func testProjectPages(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "lister")
	vis := []tokens.Visibility{tokens.Private, tokens.Internal, tokens.Public}
	var all []tokens.Project
	for i := range 9 {
		p := mustProject(t, s, fmt.Sprintf("lister/app%d", i), owner)
		if v := vis[i%3]; v != tokens.Private {
			var err error
			if p, err = s.UpdateProject(ctx, p.ID, tokens.ProjectChange{Visibility: v}); err != nil {
				t.Fatalf("UpdateProject: %v", err)
			}
		}
		all = append(all, p)
	}
	// app0 goes, app1 becomes public, app2 private: every index moves.
	if err := s.DeleteProject(ctx, all[0].ID); err != nil {
		t.Fatalf("DeleteProject: %v", err)
	}
	all = all[1:]
	for _, c := range []struct {
		i int
		v tokens.Visibility
	}{{0, tokens.Public}, {1, tokens.Private}} {
		p, err := s.UpdateProject(ctx, all[c.i].ID, tokens.ProjectChange{Visibility: c.v})
		if err != nil {
			t.Fatalf("UpdateProject: %v", err)
		}
		all[c.i] = p
	}
	// A name change keeps the visibility, and the indexes.
	if _, err := s.UpdateProject(ctx, all[2].ID, tokens.ProjectChange{Name: "renamed"}); err != nil {
		t.Fatalf("UpdateProject(name): %v", err)
	}
	want := func(i tokens.ProjectIndex) []int64 {
		var ids []int64
		for _, p := range all {
			if i.Holds(p.Visibility) {
				ids = append(ids, p.ID)
			}
		}
		return ids
	}
	projectIDs := idsOf(func(p tokens.Project) int64 { return p.ID })

	withTokens := mustProject(t, s, "lister/tokens", owner)
	other := mustProject(t, s, "lister/other", owner)
	all = append(all, withTokens, other)
	var toks []int64
	for i := range 5 {
		toks = append(toks, mustDeployToken(t, s, withTokens, fmt.Sprintf("listed-%d", i)).ID)
		mustDeployToken(t, s, other, fmt.Sprintf("other-%d", i))
	}
	if err := s.RevokeDeployToken(ctx, withTokens.ID, toks[1]); err != nil {
		t.Fatalf("RevokeDeployToken: %v", err) // revoked tokens stay listed
	}
	// Members: the owner and five more; one removed, one updated (not a
	// new member), one deleted with their user.
	members := []int64{owner.ID}
	for i := range 5 {
		u := mustUser(t, s, fmt.Sprintf("listed%d", i))
		if err := s.PutMember(ctx, tokens.Member{ProjectID: withTokens.ID, UserID: u.ID, AccessLevel: tokens.Developer, CreatedAt: when}); err != nil {
			t.Fatalf("PutMember: %v", err)
		}
		members = append(members, u.ID)
	}
	if err := s.DeleteMember(ctx, withTokens.ID, members[2]); err != nil {
		t.Fatalf("DeleteMember: %v", err)
	}
	if err := s.PutMember(ctx, tokens.Member{ProjectID: withTokens.ID, UserID: members[3], AccessLevel: tokens.Maintainer, CreatedAt: when}); err != nil {
		t.Fatalf("PutMember(update): %v", err)
	}
	if err := s.DeleteUser(ctx, members[4]); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	members = slices.Delete(members, 4, 5)
	members = slices.Delete(members, 2, 3)

	lists := []struct {
		name string
		list pageOf
		want []int64
	}{
		{"all projects", func(p tokens.Page) ([]int64, int, error) {
			return projectIDs(s.PageProjects(ctx, tokens.AllProjects, p))
		}, nil},
		{"internal projects", func(p tokens.Page) ([]int64, int, error) {
			return projectIDs(s.PageProjects(ctx, tokens.InternalProjects, p))
		}, nil},
		{"public projects", func(p tokens.Page) ([]int64, int, error) {
			return projectIDs(s.PageProjects(ctx, tokens.PublicProjects, p))
		}, nil},
		{"deploy tokens", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(d tokens.DeployToken) int64 { return d.ID })(s.PageDeployTokens(ctx, withTokens.ID, p))
		}, toks},
		{"members", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(m tokens.Member) int64 { return m.UserID })(s.PageMembers(ctx, withTokens.ID, p))
		}, members},
		{"members of a deleted project", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(m tokens.Member) int64 { return m.UserID })(s.PageMembers(ctx, all[0].ID-1, p))
		}, nil},
		{"deploy tokens of a deleted project", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(d tokens.DeployToken) int64 { return d.ID })(s.PageDeployTokens(ctx, all[0].ID-1, p))
		}, nil},
	}
	lists[0].want, lists[1].want, lists[2].want = want(tokens.AllProjects), want(tokens.InternalProjects), want(tokens.PublicProjects)
	for _, l := range lists {
		n := len(l.want)
		for _, pg := range []struct {
			name string
			page tokens.Page
		}{
			{"first", tokens.Page{Offset: 0, Limit: 2}},
			{"middle", tokens.Page{Offset: 2, Limit: 2}},
			{"last", tokens.Page{Offset: 2 * ((n - 1) / 2), Limit: 2}},
			{"past the end", tokens.Page{Offset: n + 3, Limit: 2}},
			{"count only", tokens.Page{Offset: 0, Limit: 0}},
		} {
			t.Run(l.name+"/"+pg.name, func(t *testing.T) {
				got, total, err := l.list(pg.page)
				if err != nil {
					t.Fatalf("list: %v", err)
				}
				if w := tokens.PageOf(l.want, pg.page); !slices.Equal(got, w) || total != n {
					t.Errorf("page %+v = %v of %d; want %v of %d", pg.page, got, total, w, n)
				}
			})
		}
	}

	internal := want(tokens.InternalProjects)
	rev := slices.Clone(internal)
	slices.Reverse(rev)
	keyset := []struct {
		name  string
		after int64
		limit int
		desc  bool
		want  []int64
	}{
		{"first page", 0, 2, false, internal[:2]},
		{"next page", internal[1], 2, false, internal[2:4]},
		{"after the last", internal[len(internal)-1], 2, false, nil},
		{"after an ID not in the index", internal[0] + 1, 100, false, slices.DeleteFunc(slices.Clone(internal), func(id int64) bool { return id <= internal[0]+1 })},
		{"last page first, descending", 0, 2, true, rev[:2]},
		{"descending on", rev[1], 2, true, rev[2:4]},
		{"descending past the first", internal[0], 2, true, nil},
		{"no limit", 0, 0, false, nil},
	}
	for _, k := range keyset {
		t.Run("keyset/"+k.name, func(t *testing.T) {
			ps, err := s.ProjectsAfter(ctx, tokens.InternalProjects, k.after, k.limit, k.desc)
			got, _, _ := projectIDs(ps, 0, nil)
			if err != nil || !slices.Equal(got, k.want) {
				t.Errorf("ProjectsAfter(%d, %d, %v) = %v, %v; want %v", k.after, k.limit, k.desc, got, err, k.want)
			}
		})
	}

	t.Run("by id", func(t *testing.T) {
		ids := []int64{all[3].ID, all[0].ID - 1, all[1].ID, 1 << 40}
		ps, err := s.ProjectsByID(ctx, ids)
		got, _, _ := projectIDs(ps, 0, nil)
		if want := []int64{all[3].ID, all[1].ID}; err != nil || !slices.Equal(got, want) || ps[0].PathWithNamespace != all[3].PathWithNamespace {
			t.Errorf("ProjectsByID(%v) = %v, %v; want %v", ids, got, err, want)
		}
		if ps, err := s.ProjectsByID(ctx, nil); err != nil || len(ps) != 0 {
			t.Errorf("ProjectsByID(none) = %v, %v", ps, err)
		}
	})

	t.Run("count before", func(t *testing.T) {
		ids := []int64{all[len(all)-1].ID + 10, 0, internal[2], internal[0]}
		got, err := s.CountProjectsBefore(ctx, tokens.InternalProjects, ids)
		if wantN := []int{len(internal), 0, 2, 0}; err != nil || !slices.Equal(got, wantN) {
			t.Errorf("CountProjectsBefore(%v) = %v, %v; want %v", ids, got, err, wantN)
		}
	})

	t.Run("under a path", func(t *testing.T) {
		for _, c := range []struct {
			prefix string
			limit  int
			want   []string
		}{
			{"LISTER", 2, []string{"lister/app1", "lister/app2"}},
			{"lister", 100, []string{"lister/app1", "lister/app2", "lister/app3", "lister/app4", "lister/app5", "lister/app6", "lister/app7", "lister/app8", "lister/other", "lister/tokens"}},
			{"lister/app1", 10, nil},
			{"list", 10, nil},
			{"nobody", 10, nil},
		} {
			ps, err := s.ProjectsUnder(ctx, c.prefix, c.limit)
			var got []string
			for _, p := range ps {
				got = append(got, p.PathWithNamespace)
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("ProjectsUnder(%q, %d) = %v, %v; want %v", c.prefix, c.limit, got, err, c.want)
			}
		}
	})
}

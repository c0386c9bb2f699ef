package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// pageOf lists IDs: one paged list of the store, as its records' IDs and
// its total.
type pageOf func(p tokens.Page) ([]int64, int, error)

func idsOf[T any](id func(T) int64) func([]T, int, error) ([]int64, int, error) {
	return func(v []T, total int, err error) ([]int64, int, error) {
		ids := make([]int64, 0, len(v))
		for _, x := range v {
			ids = append(ids, id(x))
		}
		return ids, total, err
	}
}

// testPages checks every paged list of groups and deploy tokens page by
// page: first, middle, last (partial), past the end, an empty page, and
// totals that follow creates and deletes.
func testPages(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "pager")
	g := mustGroup(t, s, "paged", tokens.Group{}, owner)
	other := mustGroup(t, s, "other", tokens.Group{}, owner)
	var subs, projects, members, groupTokens, allTokens []int64
	members = append(members, owner.ID)
	for i := range 5 {
		subs = append(subs, mustGroup(t, s, fmt.Sprintf("paged/sub%d", i), g, owner).ID)
		p := mustProjectIn(t, s, fmt.Sprintf("paged/app%d", i), g, owner)
		projects = append(projects, p.ID)
		u := mustUser(t, s, fmt.Sprintf("member%d", i))
		if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: g.ID, UserID: u.ID, AccessLevel: tokens.Developer, CreatedAt: when}); err != nil {
			t.Fatalf("PutGroupMember: %v", err)
		}
		members = append(members, u.ID)
		gt := mustGroupDeployToken(t, s, g, fmt.Sprintf("group-secret-%d", i))
		groupTokens = append(groupTokens, gt.ID)
		pt := mustDeployToken(t, s, p, fmt.Sprintf("project-secret-%d", i))
		allTokens = append(allTokens, gt.ID, pt.ID)
	}
	otherToken := mustGroupDeployToken(t, s, other, "other-secret")
	allTokens = append(allTokens, otherToken.ID)

	// Removals must leave the counts right: one of each list goes.
	if err := s.DeleteGroup(ctx, subs[2]); err != nil {
		t.Fatalf("DeleteGroup(sub): %v", err)
	}
	subs = slices.Delete(subs, 2, 3)
	if err := s.DeleteProject(ctx, projects[1]); err != nil {
		t.Fatalf("DeleteProject: %v", err)
	}
	projects = slices.Delete(projects, 1, 2)
	allTokens = slices.DeleteFunc(allTokens, func(id int64) bool { return id == allTokens[3] }) // app1's token
	if err := s.DeleteGroupMember(ctx, g.ID, members[3]); err != nil {
		t.Fatalf("DeleteGroupMember: %v", err)
	}
	members = slices.Delete(members, 3, 4)
	if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: g.ID, UserID: members[1], AccessLevel: tokens.Maintainer, CreatedAt: when}); err != nil {
		t.Fatalf("PutGroupMember(update): %v", err) // an update is not a new member
	}
	if err := s.DeleteGroup(ctx, other.ID); err != nil {
		t.Fatalf("DeleteGroup(other): %v", err)
	}
	allTokens = slices.DeleteFunc(allTokens, func(id int64) bool { return id == otherToken.ID })
	slices.Sort(allTokens)

	lists := []struct {
		name string
		list pageOf
		want []int64
	}{
		{"subgroups", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(g tokens.Group) int64 { return g.ID })(s.PageSubgroups(ctx, g.ID, p))
		}, subs},
		{"group projects", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(p tokens.Project) int64 { return p.ID })(s.PageGroupProjects(ctx, g.ID, p))
		}, projects},
		{"group members", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(m tokens.GroupMember) int64 { return m.UserID })(s.PageGroupMembers(ctx, g.ID, p))
		}, members},
		{"group deploy tokens", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(d tokens.DeployToken) int64 { return d.ID })(s.PageGroupDeployTokens(ctx, g.ID, p))
		}, groupTokens},
		{"all deploy tokens", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(d tokens.DeployToken) int64 { return d.ID })(s.PageAllDeployTokens(ctx, p))
		}, allTokens},
		{"subgroups of a group without any", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(g tokens.Group) int64 { return g.ID })(s.PageSubgroups(ctx, subs[0], p))
		}, nil},
		{"members of a deleted group", func(p tokens.Page) ([]int64, int, error) {
			return idsOf(func(m tokens.GroupMember) int64 { return m.UserID })(s.PageGroupMembers(ctx, other.ID, p))
		}, nil},
	}
	for _, l := range lists {
		n := len(l.want)
		pages := []struct {
			name string
			page tokens.Page
		}{
			{"first", tokens.Page{Offset: 0, Limit: 2}},
			{"middle", tokens.Page{Offset: 2, Limit: 2}},
			{"last", tokens.Page{Offset: 2 * ((n - 1) / 2), Limit: 2}},
			{"past the end", tokens.Page{Offset: n + 3, Limit: 2}},
			{"whole", tokens.Page{Offset: 0, Limit: 100}},
			{"no limit", tokens.Page{Offset: 0, Limit: 0}},
		}
		for _, pg := range pages {
			t.Run(l.name+"/"+pg.name, func(t *testing.T) {
				got, total, err := l.list(pg.page)
				if err != nil {
					t.Fatalf("list: %v", err)
				}
				want := tokens.PageOf(l.want, pg.page)
				if !slices.Equal(got, want) || total != n {
					t.Errorf("page %+v = %v of %d; want %v of %d", pg.page, got, total, want, n)
				}
			})
		}
	}

	groups, err := s.CountGroups(ctx)
	if err != nil || groups != 1+len(subs) {
		t.Errorf("CountGroups = %d, %v; want %d", groups, err, 1+len(subs))
	}
}

package tokens

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
)

// ProjectQuery asks for a page of the projects an actor may see, ordered
// by ID: by offset (Page) with a total, or with Keyset the Page.Limit
// projects after the ID After (0: from the start), without one.
type ProjectQuery struct {
	Page
	Keyset bool
	After  int64
	// Desc orders by descending ID.
	Desc bool
}

// PageVisibleProjects answers a page of the projects the actor may see,
// the number of them (offset pages only) and, for keyset pages, whether
// more follow. An admin's page is read from the index of every project; a
// user's from the index of internal and public projects merged with their
// private member projects (read from their memberships, the per-user
// index): the cost is the page plus their memberships, not every project.
func (s *Service) PageVisibleProjects(ctx context.Context, a *Actor, q ProjectQuery) ([]Project, int, bool, error) {
	index := AllProjects
	var mine []Project // visible to a only by membership, by ID
	if !a.User.Admin {
		index = InternalProjects
		ms, err := s.Store.MembershipsOf(ctx, a.User.ID)
		if err != nil {
			return nil, 0, false, err
		}
		ids := make([]int64, len(ms))
		for i, m := range ms {
			ids[i] = m.ProjectID
		}
		ps, err := s.Store.ProjectsByID(ctx, ids) // those deleted since are left out
		if err != nil {
			return nil, 0, false, err
		}
		for _, p := range ps {
			if !index.Holds(p.Visibility) {
				mine = append(mine, p)
			}
		}
		slices.SortFunc(mine, func(x, y Project) int { return cmp.Compare(x.ID, y.ID) })
	}
	if q.Keyset {
		ps, more, err := s.projectsAfter(ctx, index, mine, q)
		return ps, 0, more, err
	}
	ps, total, err := s.projectsPage(ctx, index, mine, q)
	return ps, total, false, err
}

// projectsAfter answers a keyset page of index merged with mine, and
// whether more follow: one more than the page is read to tell.
func (s *Service) projectsAfter(ctx context.Context, index ProjectIndex, mine []Project, q ProjectQuery) ([]Project, bool, error) {
	ps, err := s.Store.ProjectsAfter(ctx, index, q.After, q.Limit+1, q.Desc)
	if err != nil {
		return nil, false, err
	}
	for _, p := range mine {
		if q.After == 0 || (!q.Desc && p.ID > q.After) || (q.Desc && p.ID < q.After) {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(x, y Project) int {
		if q.Desc {
			return cmp.Compare(y.ID, x.ID)
		}
		return cmp.Compare(x.ID, y.ID)
	})
	if len(ps) > q.Limit {
		return ps[:q.Limit], true, nil
	}
	return ps, false, nil
}

// projectsPage answers an offset page of index merged with mine, and the
// number of both. A project of mine stands at its rank in index plus the
// projects of mine before it, so the page holds the ones of mine whose
// places fall in it and, around them, the stretch of index that starts
// at the offset less the ones of mine before the page.
func (s *Service) projectsPage(ctx context.Context, index ProjectIndex, mine []Project, q ProjectQuery) ([]Project, int, error) {
	_, n, err := s.Store.PageProjects(ctx, index, Page{})
	if err != nil {
		return nil, 0, err
	}
	total := n + len(mine)
	start, end := q.Offset, q.Offset+q.Limit
	if q.Desc { // the same places counted from the end
		start, end = total-end, total-start
	}
	start, end = max(start, 0), min(end, total)
	if start >= end {
		return nil, total, nil
	}
	ids := make([]int64, len(mine))
	for i, p := range mine {
		ids[i] = p.ID
	}
	ranks, err := s.Store.CountProjectsBefore(ctx, index, ids)
	if err != nil {
		return nil, 0, err
	}
	var in []Project
	before := 0
	for i, p := range mine {
		switch at := ranks[i] + i; {
		case at < start:
			before++
		case at < end:
			in = append(in, p)
		}
	}
	ps, _, err := s.Store.PageProjects(ctx, index, Page{Offset: start - before, Limit: end - start - len(in)})
	if err != nil {
		return nil, 0, err
	}
	ps = append(ps, in...)
	slices.SortFunc(ps, func(x, y Project) int { return cmp.Compare(x.ID, y.ID) })
	if q.Desc {
		slices.Reverse(ps)
	}
	return ps, total, nil
}

// PageDeployTokens answers a page of a project's deploy tokens and their
// number; maintainers, owners and admins only. Only active ones with
// activeOnly, from the stores' lists of active tokens (see
// ActiveTokenPages): a page costs the page, not the project's tokens.
func (s *Service) PageDeployTokens(ctx context.Context, a *Actor, ref string, activeOnly bool, p Page) ([]DeployToken, int, error) {
	proj, _, err := s.ProjectFor(ctx, a, ref, Maintainer)
	if err != nil {
		return nil, 0, err
	}
	if !activeOnly {
		return s.Store.PageDeployTokens(ctx, proj.ID, p)
	}
	return s.Store.PageActiveDeployTokens(ctx, DeployTokenList{ProjectID: proj.ID}, s.Clock(), p)
}

// nestedProject answers a project whose path holds full or sits inside
// it, if any: the projects at each namespace above full by the path
// index, and the first project under it. Reads the depth of the path and
// one project, not every project.
func (s *Service) nestedProject(ctx context.Context, full string) (Project, bool, error) {
	for i := range len(full) {
		if full[i] != '/' {
			continue
		}
		p, err := s.Store.ProjectByPath(ctx, full[:i])
		if err == nil {
			return p, true, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Project{}, false, err
		}
	}
	under, err := s.Store.ProjectsUnder(ctx, strings.TrimSuffix(full, "/"), 1)
	if err != nil || len(under) == 0 {
		return Project{}, false, err
	}
	return under[0], true, nil
}

// PageMembers answers a page of a project's members, with their users,
// and their number; anyone who can see the project may.
func (s *Service) PageMembers(ctx context.Context, a *Actor, ref string, p Page) ([]MemberView, int, error) {
	proj, _, err := s.ProjectFor(ctx, a, ref, 0)
	if err != nil {
		return nil, 0, err
	}
	ms, total, err := s.Store.PageMembers(ctx, proj.ID, p)
	if err != nil {
		return nil, 0, err
	}
	views, err := s.memberViews(ctx, ms)
	return views, total, err
}

package tokens

import "context"

// SelectsAll reports whether q selects every group, its page aside: an
// admin's page of them then comes from the store's index, with a total.
func (q GroupQuery) SelectsAll() bool {
	return q.Search == "" && !q.Owned && q.MinAccessLevel == 0 && !q.TopLevelOnly
}

// PageAllGroups answers a page of every group, ordered by ID, and their
// number; admins only. Others see groups filtered by visibility after
// reading (ListGroups), which has no total short of reading them all.
func (s *Service) PageAllGroups(ctx context.Context, a *Actor, p Page) ([]Group, int, error) {
	if !a.User.Admin {
		return nil, 0, ErrForbidden
	}
	return s.Store.PageGroups(ctx, p)
}

// PageNamespaces answers a page of the namespaces of GET /namespaces and
// their number. An admin's list without search is every user's namespace
// followed by every group, so a page is read from the users index, then
// from the groups index at the position past the users, and the two
// counts make the total. A search (no index serves it) and a non-admin's
// list (their own namespace and the subtrees of their group memberships)
// are read whole and paged.
func (s *Service) PageNamespaces(ctx context.Context, a *Actor, search string, p Page) ([]Namespace, int, error) {
	if !a.User.Admin || search != "" {
		all, err := s.Namespaces(ctx, a, search)
		if err != nil {
			return nil, 0, err
		}
		return PageOf(all, p), len(all), nil
	}
	us, users, err := s.Store.ListUsers(ctx, UserQuery{Page: p})
	if err != nil {
		return nil, 0, err
	}
	out := make([]Namespace, 0, len(us))
	for _, u := range us {
		out = append(out, userNamespace(u))
	}
	// The store's users page and count are read together, so the
	// page holds every user it asks for that exists: the groups take
	// up the rest. A page with no room left still reads the count.
	rest := Page{Offset: max(p.Offset-users, 0), Limit: max(p.Limit-len(us), 0)}
	gs, groups, err := s.Store.PageGroups(ctx, rest)
	if err != nil {
		return nil, 0, err
	}
	for _, g := range gs {
		out = append(out, groupNamespace(g))
	}
	return out, users + groups, nil
}

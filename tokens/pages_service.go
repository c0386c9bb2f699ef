package tokens

import (
	"context"
)

// The Page* methods answer one page of a list and the list's size for the
// API's pagination headers. Where everyone who may list sees every record
// of the list, the page comes from the store's index; where records must
// be filtered after reading (visibility for a caller who is no member,
// active tokens only), the whole list is read and filtered, so that page
// sizes and totals stay exact.

// PageSubgroups answers a page of the subgroups of a group that the actor
// may see. Admins and members of the group (whose level reaches every
// subgroup) see them all, paged by the store; others get the visible ones.
func (s *Service) PageSubgroups(ctx context.Context, a *Actor, ref string, p Page) ([]Group, int, error) {
	g, have, err := s.GroupFor(ctx, a, ref, 0)
	if err != nil {
		return nil, 0, err
	}
	if a.User.Admin || have >= Guest {
		return s.Store.PageSubgroups(ctx, g.ID, p)
	}
	all, err := s.Subgroups(ctx, a, ref)
	return PageOf(all, p), len(all), err
}

// PageGroupProjects answers a page of the projects of a group that the
// actor may see: paged by the store for admins and members, who see them
// all.
func (s *Service) PageGroupProjects(ctx context.Context, a *Actor, ref string, p Page) ([]Project, int, error) {
	g, have, err := s.GroupFor(ctx, a, ref, 0)
	if err != nil {
		return nil, 0, err
	}
	if a.User.Admin || have >= Guest {
		return s.Store.PageGroupProjects(ctx, g.ID, p)
	}
	all, err := s.GroupProjects(ctx, a, ref)
	return PageOf(all, p), len(all), err
}

// PageGroupMembers answers a page of a group's own members; anyone who can
// see the group may.
func (s *Service) PageGroupMembers(ctx context.Context, a *Actor, ref string, p Page) ([]MemberView, int, error) {
	g, _, err := s.GroupFor(ctx, a, ref, 0)
	if err != nil {
		return nil, 0, err
	}
	gms, total, err := s.Store.PageGroupMembers(ctx, g.ID, p)
	if err != nil {
		return nil, 0, err
	}
	ms := make([]Member, 0, len(gms))
	for _, m := range gms {
		ms = append(ms, asMember(m))
	}
	views, err := s.memberViews(ctx, ms)
	return views, total, err
}

// PageGroupDeployTokens answers a page of a group's deploy tokens (only
// active ones when activeOnly, from the stores' lists of active tokens).
func (s *Service) PageGroupDeployTokens(ctx context.Context, a *Actor, ref string, activeOnly bool, p Page) ([]DeployToken, int, error) {
	g, _, err := s.GroupFor(ctx, a, ref, Maintainer)
	if err != nil {
		return nil, 0, err
	}
	if activeOnly {
		return s.Store.PageActiveDeployTokens(ctx, DeployTokenList{GroupID: g.ID}, s.Clock(), p)
	}
	return s.Store.PageGroupDeployTokens(ctx, g.ID, p)
}

// PageAllDeployTokens answers a page of every deploy token (only active
// ones when activeOnly, from the stores' list of active tokens); admins
// only.
func (s *Service) PageAllDeployTokens(ctx context.Context, a *Actor, activeOnly bool, p Page) ([]DeployToken, int, error) {
	if !a.User.Admin {
		return nil, 0, ErrForbidden
	}
	if activeOnly {
		return s.Store.PageActiveDeployTokens(ctx, DeployTokenList{}, s.Clock(), p)
	}
	return s.Store.PageAllDeployTokens(ctx, p)
}

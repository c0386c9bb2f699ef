package tokens

import (
	"context"
	"errors"
)

// GetMember answers a project's own member userID; anyone who can see the
// project may, as for the list.
func (s *Service) GetMember(ctx context.Context, a *Actor, ref string, userID int64) (MemberView, error) {
	p, _, err := s.ProjectFor(ctx, a, ref, 0)
	if err != nil {
		return MemberView{}, err
	}
	m, err := s.Store.Member(ctx, p.ID, userID)
	if errors.Is(err, ErrNotFound) {
		return MemberView{}, ErrMemberNotFound
	}
	if err != nil {
		return MemberView{}, err
	}
	return s.memberView(ctx, m)
}

// GetGroupMember answers a group's own member userID; anyone who can see
// the group may.
func (s *Service) GetGroupMember(ctx context.Context, a *Actor, ref string, userID int64) (MemberView, error) {
	g, _, err := s.GroupFor(ctx, a, ref, 0)
	if err != nil {
		return MemberView{}, err
	}
	m, err := s.Store.GroupMember(ctx, g.ID, userID)
	if errors.Is(err, ErrNotFound) {
		return MemberView{}, ErrMemberNotFound
	}
	if err != nil {
		return MemberView{}, err
	}
	return s.memberView(ctx, asMember(m))
}

func (s *Service) memberView(ctx context.Context, m Member) (MemberView, error) {
	u, err := s.Store.User(ctx, m.UserID)
	if errors.Is(err, ErrNotFound) {
		return MemberView{}, ErrMemberNotFound
	}
	if err != nil {
		return MemberView{}, err
	}
	return MemberView{Member: m, User: u}, nil
}

// GetUser answers the user id to any signed-in caller (the API shows
// others only their public fields), as GitLab's GET /users/:id.
func (s *Service) GetUser(ctx context.Context, a *Actor, id int64) (User, error) {
	u, err := s.Store.User(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrUserNotFound
	}
	return u, err
}

package tokens

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// Group deploy tokens follow the rules of project deploy tokens (scopes,
// expiry, username, the secret answered once, the CI token sealed) through
// the same code; what differs is who manages them (the group's maintainers
// and owners, by their effective level, or an admin) and what they reach
// (every project in the group's subtree: see InGroupSubtree).

// CreateGroupDeployToken creates a deploy token in a group; maintainers,
// owners and admins only. The secret is answered once.
func (s *Service) CreateGroupDeployToken(ctx context.Context, a *Actor, ref string, in CreateDeployTokenInput) (DeployToken, Secret, error) {
	g, _, err := s.GroupFor(ctx, a, ref, Maintainer)
	if err != nil {
		return DeployToken{}, "", err
	}
	t, secret, err := s.mintDeployToken(ctx, a, in, DeployToken{GroupID: g.ID}, ErrGroupNotFound)
	if err != nil {
		return DeployToken{}, "", err
	}
	s.log().InfoContext(ctx, "deploy token created", "group", g.FullPath, "token_id", t.ID, "username", t.Username, "by", a.User.Username)
	s.record(ctx, tokenEvent(EventDeployTokenCreated, a, &t, g.FullPath))
	return t, secret, nil
}

// ListGroupDeployTokens answers a group's deploy tokens (only active ones
// when activeOnly); maintainers, owners and admins only.
func (s *Service) ListGroupDeployTokens(ctx context.Context, a *Actor, ref string, activeOnly bool) ([]DeployToken, error) {
	g, _, err := s.GroupFor(ctx, a, ref, Maintainer)
	if err != nil {
		return nil, err
	}
	ts, err := s.Store.ListGroupDeployTokens(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	if activeOnly {
		now := s.Clock()
		ts = slices.DeleteFunc(ts, func(t DeployToken) bool { return !t.Active(now) })
	}
	return ts, nil
}

// GroupDeployToken answers one of a group's deploy tokens.
func (s *Service) GroupDeployToken(ctx context.Context, a *Actor, ref string, id int64) (DeployToken, error) {
	g, _, err := s.GroupFor(ctx, a, ref, Maintainer)
	if err != nil {
		return DeployToken{}, err
	}
	t, err := s.Store.GroupDeployToken(ctx, g.ID, id)
	if errors.Is(err, ErrNotFound) {
		return t, ErrTokenNotFound
	}
	return t, err
}

// RevokeGroupDeployToken revokes a group's deploy token; the record stays,
// and every project of the subtree refuses it from then on.
func (s *Service) RevokeGroupDeployToken(ctx context.Context, a *Actor, ref string, id int64) error {
	g, _, err := s.GroupFor(ctx, a, ref, Maintainer)
	if err != nil {
		return err
	}
	t, err := s.Store.GroupDeployToken(ctx, g.ID, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrTokenNotFound
	case err != nil:
		return err
	case t.Revoked:
		return nil // as RevokePAT: the same answer, no second log line
	}
	err = s.Store.RevokeGroupDeployToken(ctx, g.ID, id)
	if errors.Is(err, ErrNotFound) {
		return ErrTokenNotFound
	}
	if err == nil {
		s.log().InfoContext(ctx, "deploy token revoked", "group", g.FullPath, "token_id", id, "by", a.User.Username)
		t.Revoked = true
		s.record(ctx, tokenEvent(EventDeployTokenRevoked, a, &t, g.FullPath))
	}
	return err
}

// GroupHolds reports whether p is in g's subtree: a group holds p
// (NamespaceID) and p's path lies below g's. A project no group holds (a
// personal one, or one stored before groups existed and not migrated) is
// in no subtree, even when a group was created later at its namespace's
// path: that group's members and tokens never had a say over it. For a
// held project the store guarantees the groups along its path are its
// group and that group's ancestors.
func GroupHolds(g *Group, p *Project) bool {
	return p.NamespaceID != 0 && InGroupSubtree(g.FullPath, p.PathWithNamespace)
}

// InGroupSubtree reports whether the project path projectPath lies in the
// subtree of the group with fullPath: below it by whole segments, without
// regard to case ("corp2/x" is not in "corp", "corp/a/app" is). A group's
// own path is no project's, so it is not in its subtree.
func InGroupSubtree(fullPath, projectPath string) bool {
	return fullPath != "" && len(projectPath) > len(fullPath)+1 &&
		projectPath[len(fullPath)] == '/' && strings.EqualFold(projectPath[:len(fullPath)], fullPath)
}

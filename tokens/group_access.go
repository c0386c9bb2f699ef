package tokens

import (
	"context"
	"errors"
	"strings"
)

// ErrGroupNotFound answers a group that does not exist or that the caller
// may not know exists.
var ErrGroupNotFound = &Error{Kind: KindNotFound, Subject: "Group"}

// CanSeeGroup reports whether u (nil: anonymous) may know g exists, given
// its access level in g: as for projects, by visibility or membership.
func CanSeeGroup(u *User, g *Group, level AccessLevel) bool {
	switch {
	case g.Visibility == Public:
		return true
	case g.Visibility == Internal && u != nil:
		return true
	}
	return level >= Guest
}

// FindGroup resolves a numeric id or a (URL-decoded) full path.
func (s *Service) FindGroup(ctx context.Context, ref string) (Group, error) {
	var (
		g   Group
		err error
	)
	if id, ok := ParseID(ref); ok {
		g, err = s.Store.Group(ctx, id)
	} else {
		if ValidateGroupPath("id", ref) != nil {
			return g, ErrGroupNotFound
		}
		g, err = s.Store.GroupByPath(ctx, ref)
	}
	if errors.Is(err, ErrNotFound) {
		return g, ErrGroupNotFound
	}
	return g, err
}

// GroupFor resolves ref and checks the actor may see the group (404
// otherwise) and has at least level in it (403 otherwise). It answers the
// actor's level.
func (s *Service) GroupFor(ctx context.Context, a *Actor, ref string, level AccessLevel) (Group, AccessLevel, error) {
	g, err := s.FindGroup(ctx, ref)
	if err != nil {
		return g, 0, err
	}
	var u *User
	if a != nil {
		u = &a.User
	}
	have, err := s.GroupAccessLevel(ctx, u, &g)
	if err != nil {
		return g, 0, err
	}
	if !CanSeeGroup(u, &g, have) {
		return g, have, ErrGroupNotFound
	}
	if have < level {
		return g, have, ErrForbidden
	}
	return g, have, nil
}

// ValidateGroupPath checks a group's full path by the rules of project
// paths (a group is a namespace that projects' paths start with), with one
// level fewer, so that a project still fits below the deepest group.
func ValidateGroupPath(field, full string) error {
	if strings.Count(full, "/")+1 >= maxPathDepth {
		return Invalid(field, "is nested too deeply (at most %d levels)", maxPathDepth-1)
	}
	return ValidateProjectPath(field, full)
}

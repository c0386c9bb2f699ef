package tokens

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ListUsers answers a page of the users q selects and their number. Every
// signed-in user may list users, as in GitLab; what each sees of them is
// the surface's business.
func (s *Service) ListUsers(ctx context.Context, a *Actor, q UserQuery) ([]User, int, error) {
	return s.Store.ListUsers(ctx, q)
}

// mayAdminister checks that a, an admin, may block or delete user id:
// not themselves, and not root, whose admin token would keep working
// (it is configuration) and without whom the instance has no way in.
func (s *Service) mayAdminister(ctx context.Context, a *Actor, id int64, verb string) (User, error) {
	if !a.User.Admin {
		return User{}, ErrForbidden
	}
	u, err := s.Store.User(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, err
	}
	switch {
	case u.ID == a.User.ID:
		return User{}, Forbidden("you cannot %s yourself", verb)
	case strings.EqualFold(u.Username, RootUsername):
		return User{}, Forbidden("the admin token's user %s cannot be %s", RootUsername, pastTense(verb))
	}
	return u, nil
}

// BlockUser blocks or unblocks a user; admins only. A blocked user's
// personal access tokens, and the refresh tokens and web sessions opened
// with them, are refused from the next request on; the deploy tokens they
// created keep working. Blocking a blocked user is not an error.
func (s *Service) BlockUser(ctx context.Context, a *Actor, id int64, blocked bool) error {
	verb := "block"
	if !blocked {
		verb = "unblock"
	}
	u, err := s.mayAdminister(ctx, a, id, verb)
	if err != nil {
		return err
	}
	if u.Blocked == blocked {
		return nil // the same answer, and no log line for nothing done
	}
	if err := s.Store.SetUserBlocked(ctx, id, blocked); errors.Is(err, ErrNotFound) {
		return ErrUserNotFound
	} else if err != nil {
		return fmt.Errorf("%s user: %w", verb, err)
	}
	s.log().InfoContext(ctx, "user "+pastTense(verb), "user_id", id, "username", u.Username, "by", a.User.Username)
	return nil
}

// DeleteUser deletes a user with their memberships and personal access
// tokens; admins only. A user who is the only owner of projects is
// refused, naming them, so no project is left without an owner: make
// someone else an owner, or delete the projects, first. The deploy tokens
// they created stay with their projects.
func (s *Service) DeleteUser(ctx context.Context, a *Actor, id int64) error {
	u, err := s.mayAdminister(ctx, a, id, "delete")
	if err != nil {
		return err
	}
	if err := s.checkNotOnlyOwner(ctx, id); err != nil {
		return err
	}
	switch err := s.Store.DeleteUser(ctx, id); {
	case errors.Is(err, ErrLastOwner):
		// Another owner left meanwhile; the store refused atomically.
		if err := s.checkNotOnlyOwner(ctx, id); err != nil {
			return err
		}
		return Conflict("the user is the only owner of a project or a group")
	case errors.Is(err, ErrNotFound):
		return ErrUserNotFound
	case err != nil:
		return fmt.Errorf("delete user: %w", err)
	}
	s.log().InfoContext(ctx, "user deleted", "user_id", id, "username", u.Username, "by", a.User.Username)
	return nil
}

// checkNotOnlyOwner answers a conflict naming the projects whose only
// owner is user id.
func (s *Service) checkNotOnlyOwner(ctx context.Context, id int64) error {
	ms, err := s.Store.MembershipsOf(ctx, id)
	if err != nil {
		return err
	}
	var paths []string
	for _, m := range ms {
		if m.AccessLevel != Owner {
			continue
		}
		all, err := s.Store.ListMembers(ctx, m.ProjectID)
		if err != nil {
			return err
		}
		owners := 0
		for _, o := range all {
			if o.AccessLevel == Owner {
				owners++
			}
		}
		if owners > 1 {
			continue
		}
		p, err := s.Store.Project(ctx, m.ProjectID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		paths = append(paths, p.PathWithNamespace)
	}
	groups, err := s.onlyOwnerOfGroups(ctx, id)
	if err != nil {
		return err
	}
	paths = append(paths, groups...)
	if len(paths) == 0 {
		return nil
	}
	return Conflict("the user is the only owner of " + strings.Join(paths, ", ") + ": add another owner or delete those projects and groups first")
}

// ListPATs answers a page of personal access tokens and their number:
// admins see everyone's (userID 0) or one user's, others only their own.
func (s *Service) ListPATs(ctx context.Context, a *Actor, userID int64, p Page) ([]PersonalAccessToken, int, error) {
	if !a.User.Admin {
		if userID != 0 && userID != a.User.ID {
			return nil, 0, Forbidden("only administrators may list other users' tokens")
		}
		userID = a.User.ID
	}
	return s.Store.ListPATs(ctx, PATQuery{Page: p, UserID: userID})
}

// rotationLifetime is how long a rotated token lives when the caller does
// not say, as GitLab's default: a week.
const rotationLifetime = 7 * 24 * time.Hour

// errRotateInactive answers a rotation of a revoked or expired token, as
// GitLab refuses it (400).
var errRotateInactive = &Error{Kind: KindInvalid, Message: "token is revoked or expired: only an active token can be rotated"}

// RotatePAT revokes token id and answers a new one with its name, scopes
// and user, expiring at expiresAt (by default a week from today, as in
// GitLab); its owner or an admin may. The secret is answered once. With a
// grace (ParseDuration; "" or "0": none, GitLab's behaviour, which its
// clients expect), the old token keeps working until the grace ends
// instead, and the one it was rotated from, if still in its own grace,
// stops at once (see rotate.go).
func (s *Service) RotatePAT(ctx context.Context, a *Actor, id int64, expiresAt, grace string) (PersonalAccessToken, Secret, error) {
	old, err := s.PAT(ctx, a, id)
	if err != nil {
		return PersonalAccessToken{}, "", err
	}
	var keep time.Duration
	if grace != "" {
		if keep, err = ParseGrace("grace", grace, s.RotationMaxGrace); err != nil {
			return PersonalAccessToken{}, "", err
		}
	}
	now := s.Clock()
	if !old.Active(now) {
		return PersonalAccessToken{}, "", errRotateInactive
	}
	exp, err := ParseExpiry("expires_at", expiresAt, now)
	if err != nil {
		return PersonalAccessToken{}, "", err
	}
	if exp == nil {
		d := now.Add(rotationLifetime)
		day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		exp = &day
	}
	secret, err := Generate(PATSecret)
	if err != nil {
		return PersonalAccessToken{}, "", err
	}
	t := PersonalAccessToken{UserID: old.UserID, Name: old.Name, Scopes: old.Scopes, ExpiresAt: exp, CreatedAt: now, Digest: s.Keys.Digest(secret.Reveal())}
	var oldUntil time.Time
	if keep > 0 {
		oldUntil, t.PreviousID = now.Add(keep), old.ID
	}
	switch err := s.Store.RotatePATWithGrace(ctx, old.ID, &t, oldUntil); {
	case errors.Is(err, ErrConflict):
		return PersonalAccessToken{}, "", errRotateInactive // rotated or revoked meanwhile
	case errors.Is(err, ErrNotFound):
		return PersonalAccessToken{}, "", ErrPATNotFound
	case err != nil:
		return PersonalAccessToken{}, "", fmt.Errorf("rotate personal access token: %w", err)
	}
	s.log().InfoContext(ctx, "personal access token rotated", "token_id", old.ID, "new_token_id", t.ID, "user_id", t.UserID, "grace", keep.String(), "by", a.User.Username)
	e := patEvent(EventPATRotated, a, t)
	e.Message = fmt.Sprintf("rotated personal access token %d into %d", old.ID, t.ID)
	s.record(ctx, e)
	return t, secret, nil
}

// UpdateProjectInput is what PUT /projects/:id may change; nil fields stay
// as they are.
type UpdateProjectInput struct {
	Name       *string
	Visibility *string
}

// UpdateProject changes a project's name or visibility; maintainers,
// owners and admins may, as GitLab lets maintainers edit a project's
// settings.
func (s *Service) UpdateProject(ctx context.Context, a *Actor, ref string, in UpdateProjectInput) (Project, error) {
	p, _, err := s.ProjectFor(ctx, a, ref, Maintainer)
	if err != nil {
		return Project{}, err
	}
	var c ProjectChange
	if in.Name != nil {
		if err := ValidateName("name", *in.Name); err != nil {
			return Project{}, err
		}
		c.Name = *in.Name
	}
	if in.Visibility != nil {
		if c.Visibility = Visibility(*in.Visibility); !c.Visibility.Valid() {
			return Project{}, Invalid("visibility", "does not have a valid value (private, internal or public)")
		}
	}
	if c == (ProjectChange{}) {
		return p, nil
	}
	p, err = s.Store.UpdateProject(ctx, p.ID, c)
	if errors.Is(err, ErrNotFound) {
		return Project{}, ErrProjectNotFound
	}
	if err != nil {
		return Project{}, fmt.Errorf("update project: %w", err)
	}
	s.log().InfoContext(ctx, "project updated", "project", p.PathWithNamespace, "name", c.Name, "visibility", string(c.Visibility), "by", a.User.Username)
	return p, nil
}

// pastTense of the verbs mayAdminister is asked about: block, unblock,
// delete.
func pastTense(verb string) string {
	if strings.HasSuffix(verb, "e") {
		return verb + "d"
	}
	return verb + "ed"
}

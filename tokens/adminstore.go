package tokens

import (
	"context"
	"strings"
)

// RootUsername is the admin user the configured admin token acts as. It
// can be neither blocked nor deleted: the token would keep working as it
// (it is configuration, not a stored PAT), and an instance without it has
// no way back in.
const RootUsername = "root"

// Page asks a list for Limit records after the first Offset. Stores answer
// a page from an index, without reading the records before it.
type Page struct {
	Offset, Limit int
}

// UserQuery selects users for ListUsers; zero fields select everyone.
type UserQuery struct {
	Page
	// Username selects the user with this username, in any case.
	Username string
	// Search selects users whose username or name holds it, in any case.
	// No index serves it: the store reads the users (or, with Blocked,
	// the blocked users) to answer.
	Search string
	// Blocked selects blocked users only.
	Blocked bool
}

// Matches reports whether q selects u, its page aside; stores use it to
// filter what an index could not.
func (q UserQuery) Matches(u User) bool {
	if q.Blocked && !u.Blocked {
		return false
	}
	if q.Username != "" && !strings.EqualFold(q.Username, u.Username) {
		return false
	}
	if q.Search != "" {
		s := strings.ToLower(q.Search)
		return strings.Contains(strings.ToLower(u.Username), s) || strings.Contains(strings.ToLower(u.Name), s)
	}
	return true
}

// PageOf answers the part of all that p asks for.
func PageOf[T any](all []T, p Page) []T {
	start := min(max(p.Offset, 0), len(all))
	end := min(start+max(p.Limit, 0), len(all))
	return all[start:end]
}

// PATQuery selects personal access tokens for ListPATs.
type PATQuery struct {
	Page
	// UserID selects one user's tokens; 0 selects every user's.
	UserID int64
}

// ProjectChange is what UpdateProject changes; zero fields stay as they
// are.
type ProjectChange struct {
	Name       string
	Visibility Visibility
}

// Admin stores what administering users, tokens and projects needs beyond
// creating them. Lists are ordered by ID and answer one page with the
// total of what the query selects.
type Admin interface {
	// ListUsers answers a page of the users q selects, and their number.
	ListUsers(ctx context.Context, q UserQuery) ([]User, int, error)
	// SetUserBlocked blocks or unblocks a user; ErrNotFound when there is
	// none. Setting the state a user has is not an error.
	SetUserBlocked(ctx context.Context, id int64, blocked bool) error
	// DeleteUser removes a user with their memberships (of projects and
	// of groups) and personal access tokens, all or nothing; the username
	// becomes free. The deploy tokens they created stay. ErrNotFound when
	// there is none, ErrLastOwner when they are the only owner of a
	// project or of a group (checked in the same atomic step, so an owner
	// leaving meanwhile can't leave one without an owner).
	DeleteUser(ctx context.Context, id int64) error
	// ListPATs answers a page of the tokens q selects, and their number.
	ListPATs(ctx context.Context, q PATQuery) ([]PersonalAccessToken, int, error)
	// RotatePAT revokes token oldID and creates t (assigning t.ID) in one
	// step; ErrNotFound when oldID does not exist, ErrConflict when it is
	// revoked already, so that of two rotations of one token one wins.
	RotatePAT(ctx context.Context, oldID int64, t *PersonalAccessToken) error
	// UpdateProject applies c to project id and answers the result;
	// ErrNotFound when there is none.
	UpdateProject(ctx context.Context, id int64, c ProjectChange) (Project, error)
}

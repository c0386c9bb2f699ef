package tokens

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrParentNotFound answers a parent_id that names no group the caller may
// see; its message names the field.
var ErrParentNotFound = &Error{Kind: KindNotFound, Subject: "Parent Group"}

// errGroupNeedsOwner answers a change that would leave a group without an
// owner, as GitLab refuses it.
var errGroupNeedsOwner = &Error{Kind: KindInvalid, Message: "access_level: a group needs at least one owner"}

// visibilityRank orders visibilities from the most closed to the most open.
func visibilityRank(v Visibility) int {
	switch v {
	case Public:
		return 2
	case Internal:
		return 1
	}
	return 0
}

// CreateGroupInput describes a group to create.
type CreateGroupInput struct {
	// Name defaults to Path.
	Name string
	Path string
	// ParentID is the group to create it in; 0 at the top level.
	ParentID    int64
	Visibility  string
	Description string
}

// CreateGroup creates a group owned by the actor. At the top level anyone
// may, unless NoTopLevelGroups is set (admins always may); in a parent it
// takes Maintainer or more there, inherited levels included, as GitLab's
// default "roles allowed to create subgroups" has it. A subgroup is never
// more visible than its parent.
func (s *Service) CreateGroup(ctx context.Context, a *Actor, in CreateGroupInput) (Group, error) {
	if err := ValidateSegment("path", in.Path); err != nil {
		return Group{}, err
	}
	in.Name = cmp.Or(in.Name, in.Path)
	if err := ValidateName("name", in.Name); err != nil {
		return Group{}, err
	}
	if len(in.Description) > 1024 {
		return Group{}, Invalid("description", "is too long (maximum is 1024 characters)")
	}
	vis := Visibility(cmp.Or(in.Visibility, string(Private)))
	if !vis.Valid() {
		return Group{}, Invalid("visibility", "does not have a valid value (private, internal or public)")
	}
	g := Group{Name: in.Name, Path: in.Path, FullPath: in.Path, Visibility: vis, Description: in.Description, CreatorID: a.User.ID, CreatedAt: s.Clock()}
	if in.ParentID != 0 {
		// Authorization first: a parent the caller may not see is one
		// that does not exist.
		parent, _, err := s.GroupFor(ctx, a, fmt.Sprint(in.ParentID), Maintainer)
		switch {
		case errors.Is(err, ErrGroupNotFound):
			return Group{}, ErrParentNotFound
		case errors.Is(err, ErrForbidden):
			return Group{}, Forbidden("creating a subgroup of %q needs the Maintainer role or more there", parent.FullPath)
		case err != nil:
			return Group{}, err
		}
		if visibilityRank(vis) > visibilityRank(parent.Visibility) {
			return Group{}, Invalid("visibility", "%s is not allowed since the parent group has %s visibility", vis, parent.Visibility)
		}
		g.ParentID, g.FullPath = parent.ID, parent.FullPath+"/"+in.Path
	} else if s.NoTopLevelGroups && !a.User.Admin {
		return Group{}, Forbidden("only administrators may create top-level groups here")
	}
	if err := ValidateGroupPath("path", g.FullPath); err != nil {
		return Group{}, err
	}
	if err := s.storeGroup(ctx, &g, a.User.ID); err != nil {
		return Group{}, err
	}
	s.log().InfoContext(ctx, "group created", "group", g.FullPath, "group_id", g.ID, "by", a.User.Username)
	s.record(ctx, groupEvent(EventGroupCreated, a, g))
	return g, nil
}

// storeGroup stores g with owner as its owner, wording the store's
// refusals.
func (s *Service) storeGroup(ctx context.Context, g *Group, owner int64) error {
	err := s.Store.CreateGroup(ctx, g, GroupMember{UserID: owner, AccessLevel: Owner, CreatedAt: g.CreatedAt})
	switch {
	case errors.Is(err, ErrConflict):
		// A username, a group or a project: one namespace.
		return Invalid("path", "has already been taken")
	case errors.Is(err, ErrNested):
		return Invalid("path", "cannot be inside a project's path")
	case errors.Is(err, ErrNotFound) && g.ParentID != 0:
		// The parent was deleted meanwhile.
		return ErrParentNotFound
	case err != nil:
		return fmt.Errorf("create group: %w", err)
	}
	return nil
}

// UpdateGroupInput holds the fields to change; nil leaves one as it is.
type UpdateGroupInput struct {
	Name        *string
	Description *string
	Visibility  *string
}

// UpdateGroup changes a group's name, description or visibility; owners
// and admins only. As in GitLab, a group is never more visible than its
// parent, nor less visible than its subgroups and projects.
func (s *Service) UpdateGroup(ctx context.Context, a *Actor, ref string, in UpdateGroupInput) (Group, error) {
	g, _, err := s.GroupFor(ctx, a, ref, Owner)
	if err != nil {
		return Group{}, err
	}
	if in.Name != nil {
		if err := ValidateName("name", *in.Name); err != nil {
			return Group{}, err
		}
		g.Name = *in.Name
	}
	if in.Description != nil {
		if len(*in.Description) > 1024 {
			return Group{}, Invalid("description", "is too long (maximum is 1024 characters)")
		}
		g.Description = *in.Description
	}
	if in.Visibility != nil {
		vis := Visibility(*in.Visibility)
		if !vis.Valid() {
			return Group{}, Invalid("visibility", "does not have a valid value (private, internal or public)")
		}
		if err := s.checkGroupVisibility(ctx, g, vis); err != nil {
			return Group{}, err
		}
		g.Visibility = vis
	}
	if err := s.Store.UpdateGroup(ctx, g); errors.Is(err, ErrNotFound) {
		return Group{}, ErrGroupNotFound
	} else if err != nil {
		return Group{}, fmt.Errorf("update group: %w", err)
	}
	s.record(ctx, groupEvent(EventGroupUpdated, a, g))
	return g, nil
}

// checkGroupVisibility refuses vis for g when it would make g more
// visible than its parent or less visible than what it holds.
func (s *Service) checkGroupVisibility(ctx context.Context, g Group, vis Visibility) error {
	if g.ParentID != 0 {
		parent, err := s.Store.Group(ctx, g.ParentID)
		if err != nil {
			return fmt.Errorf("read parent group: %w", err)
		}
		if visibilityRank(vis) > visibilityRank(parent.Visibility) {
			return Invalid("visibility", "%s is not allowed since the parent group has %s visibility", vis, parent.Visibility)
		}
	}
	subs, err := s.Store.ListSubgroups(ctx, g.ID)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if visibilityRank(sub.Visibility) > visibilityRank(vis) {
			return Invalid("visibility", "%s is not allowed since the subgroup %q has %s visibility", vis, sub.FullPath, sub.Visibility)
		}
	}
	ps, err := s.Store.ListGroupProjects(ctx, g.ID)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if visibilityRank(p.Visibility) > visibilityRank(vis) {
			return Invalid("visibility", "%s is not allowed since the project %q has %s visibility", vis, p.PathWithNamespace, p.Visibility)
		}
	}
	return nil
}

// DeleteGroup deletes an empty group with its members and deploy tokens;
// owners and admins only. A group that holds subgroups or projects is
// refused, saying so: delete or move them first.
func (s *Service) DeleteGroup(ctx context.Context, a *Actor, ref string) error {
	g, _, err := s.GroupFor(ctx, a, ref, Owner)
	if err != nil {
		return err
	}
	switch err := s.Store.DeleteGroup(ctx, g.ID); {
	case errors.Is(err, ErrNotEmpty):
		return Conflict(fmt.Sprintf("group %q still holds subgroups or projects: delete them first", g.FullPath))
	case errors.Is(err, ErrNotFound):
		return ErrGroupNotFound
	case err != nil:
		return fmt.Errorf("delete group: %w", err)
	}
	s.log().InfoContext(ctx, "group deleted", "group", g.FullPath, "group_id", g.ID, "by", a.User.Username)
	s.dropHooks(ctx, 0, g.ID)
	s.record(ctx, groupEvent(EventGroupDestroyed, a, g))
	return nil
}

// GroupQuery selects groups for ListGroups, as GitLab's GET /groups.
type GroupQuery struct {
	// Search selects groups whose name or full path holds it, in any case.
	Search string
	// Owned selects groups the caller is a direct owner of.
	Owned bool
	// MinAccessLevel selects groups where the caller's level (inherited
	// included) is at least this; 0 selects all.
	MinAccessLevel AccessLevel
	// TopLevelOnly selects groups without a parent.
	TopLevelOnly bool
	// Offset and Limit are the page: the groups selected are counted
	// from the first.
	Offset, Limit int
}

// levels is a user's group memberships with the groups' full paths, to
// answer the level along any path without a store read per group.
type levels struct {
	paths  []string // lowercase full paths
	levels []AccessLevel
	direct map[int64]AccessLevel
}

func (s *Service) levelsOf(ctx context.Context, u *User) (levels, error) {
	var l levels
	if u == nil {
		return l, nil
	}
	ms, err := s.Store.GroupMembershipsOf(ctx, u.ID)
	if err != nil {
		return l, err
	}
	l.direct = map[int64]AccessLevel{}
	for _, m := range ms {
		g, err := s.Store.Group(ctx, m.GroupID)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return l, err
		}
		l.paths = append(l.paths, strings.ToLower(g.FullPath))
		l.levels = append(l.levels, m.AccessLevel)
		l.direct[g.ID] = m.AccessLevel
	}
	return l, nil
}

// at answers the highest level of the memberships at path or above it.
func (l levels) at(path string) AccessLevel {
	lower := strings.ToLower(path)
	var out AccessLevel
	for i, p := range l.paths {
		if lower == p || strings.HasPrefix(lower, p+"/") {
			out = max(out, l.levels[i])
		}
	}
	return out
}

// ListGroups answers a page of the groups the actor may see that q
// selects, and whether more follow. Groups are read page by page through
// the store's index, in ID order, only as far as the page asked needs.
func (s *Service) ListGroups(ctx context.Context, a *Actor, q GroupQuery) ([]Group, bool, error) {
	u := &a.User
	l, err := s.levelsOf(ctx, u)
	if err != nil {
		return nil, false, err
	}
	search := strings.ToLower(q.Search)
	keep := func(g Group) bool {
		level := l.at(g.FullPath)
		switch {
		case !u.Admin && !CanSeeGroup(u, &g, level):
			return false
		case q.TopLevelOnly && g.ParentID != 0:
			return false
		case q.Owned && l.direct[g.ID] != Owner:
			return false
		case q.MinAccessLevel > 0 && level < q.MinAccessLevel:
			return false
		case search != "" && !strings.Contains(strings.ToLower(g.Name), search) && !strings.Contains(strings.ToLower(g.FullPath), search):
			return false
		}
		return true
	}
	const batch = 100
	var (
		out     []Group
		skipped int
		after   int64
	)
	for {
		gs, err := s.Store.ListGroups(ctx, after, batch)
		if err != nil {
			return nil, false, err
		}
		for _, g := range gs {
			if !keep(g) {
				continue
			}
			if skipped < q.Offset {
				skipped++
				continue
			}
			if len(out) == q.Limit {
				return out, true, nil
			}
			out = append(out, g)
		}
		if len(gs) < batch {
			return out, false, nil
		}
		after = gs[len(gs)-1].ID
	}
}

// visibleGroups keeps the groups of gs the actor may see.
func (s *Service) visibleGroups(ctx context.Context, a *Actor, gs []Group) ([]Group, error) {
	if a.User.Admin {
		return gs, nil
	}
	l, err := s.levelsOf(ctx, &a.User)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(gs, func(g Group) bool { return !CanSeeGroup(&a.User, &g, l.at(g.FullPath)) }), nil
}

// Subgroups answers the subgroups of a group that the actor may see.
func (s *Service) Subgroups(ctx context.Context, a *Actor, ref string) ([]Group, error) {
	g, _, err := s.GroupFor(ctx, a, ref, 0)
	if err != nil {
		return nil, err
	}
	subs, err := s.Store.ListSubgroups(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	return s.visibleGroups(ctx, a, subs)
}

// GroupProjects answers the projects of a group that the actor may see.
func (s *Service) GroupProjects(ctx context.Context, a *Actor, ref string) ([]Project, error) {
	g, have, err := s.GroupFor(ctx, a, ref, 0)
	if err != nil {
		return nil, err
	}
	ps, err := s.Store.ListGroupProjects(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	if have >= Guest {
		// Every project below a group a member's level reaches.
		return ps, nil
	}
	out := ps[:0]
	for _, p := range ps {
		if p.Visibility != Private {
			out = append(out, p)
			continue
		}
		level, err := s.AccessLevel(ctx, &a.User, &p)
		if err != nil {
			return nil, err
		}
		if CanSee(&a.User, &p, level) {
			out = append(out, p)
		}
	}
	return out, nil
}

// memberViews joins members with their users, leaving out users deleted
// meanwhile.
func (s *Service) memberViews(ctx context.Context, ms []Member) ([]MemberView, error) {
	out := make([]MemberView, 0, len(ms))
	for _, m := range ms {
		u, err := s.Store.User(ctx, m.UserID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, MemberView{Member: m, User: u})
	}
	return out, nil
}

func asMember(m GroupMember) Member {
	return Member{UserID: m.UserID, AccessLevel: m.AccessLevel, CreatedAt: m.CreatedAt}
}

// ListGroupMembers answers a group's own members; anyone who can see the
// group may.
func (s *Service) ListGroupMembers(ctx context.Context, a *Actor, ref string) ([]MemberView, error) {
	g, _, err := s.GroupFor(ctx, a, ref, 0)
	if err != nil {
		return nil, err
	}
	gms, err := s.Store.ListGroupMembers(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	ms := make([]Member, 0, len(gms))
	for _, m := range gms {
		ms = append(ms, asMember(m))
	}
	return s.memberViews(ctx, ms)
}

// inheritedMembers adds to best the members of the groups along path,
// keeping each user's highest level.
func (s *Service) inheritedMembers(ctx context.Context, path string, best map[int64]Member) error {
	along, err := s.Store.GroupsAlong(ctx, path)
	if err != nil {
		return err
	}
	for _, g := range along {
		gms, err := s.Store.ListGroupMembers(ctx, g.ID)
		if err != nil {
			return err
		}
		for _, m := range gms {
			if old, ok := best[m.UserID]; !ok || m.AccessLevel > old.AccessLevel {
				best[m.UserID] = asMember(m)
			}
		}
	}
	return nil
}

func sortedMembers(best map[int64]Member) []Member {
	ms := make([]Member, 0, len(best))
	for _, m := range best {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.UserID, b.UserID) })
	return ms
}

// AllGroupMembers answers a group's members with those inherited from the
// groups above it, each user once at their highest level, by user ID.
func (s *Service) AllGroupMembers(ctx context.Context, a *Actor, ref string) ([]MemberView, error) {
	g, _, err := s.GroupFor(ctx, a, ref, 0)
	if err != nil {
		return nil, err
	}
	best := map[int64]Member{}
	if err := s.inheritedMembers(ctx, g.FullPath, best); err != nil {
		return nil, err
	}
	return s.memberViews(ctx, sortedMembers(best))
}

// AllProjectMembers answers a project's members with those inherited from
// the groups along its path, each user once at their highest level, by
// user ID.
func (s *Service) AllProjectMembers(ctx context.Context, a *Actor, ref string) ([]MemberView, error) {
	p, _, err := s.ProjectFor(ctx, a, ref, 0)
	if err != nil {
		return nil, err
	}
	best := map[int64]Member{}
	if p.NamespaceID != 0 { // only a project a group holds inherits (GroupHolds)
		if err := s.inheritedMembers(ctx, p.PathWithNamespace, best); err != nil {
			return nil, err
		}
	}
	own, err := s.Store.ListMembers(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range own {
		if old, ok := best[m.UserID]; !ok || m.AccessLevel > old.AccessLevel {
			best[m.UserID] = m
		}
	}
	return s.memberViews(ctx, sortedMembers(best))
}

// SetGroupMember adds a member to a group or changes a member's level, as
// SetMember does for projects: maintainers manage members up to their own
// level, owners any. As in GitLab, a member's own level is never below
// the one they inherit from a group above.
func (s *Service) SetGroupMember(ctx context.Context, a *Actor, ref string, userID int64, level AccessLevel, create bool) (MemberView, error) {
	g, have, err := s.GroupFor(ctx, a, ref, Maintainer)
	if err != nil {
		return MemberView{}, err
	}
	u, created, err := s.checkMemberChange(ctx, userID, level, have, create, func() (AccessLevel, time.Time, error) {
		m, err := s.Store.GroupMember(ctx, g.ID, userID)
		return m.AccessLevel, m.CreatedAt, err
	})
	if err != nil {
		return MemberView{}, err
	}
	if parent, ok := strings.CutSuffix(g.FullPath, "/"+g.Path); ok {
		inherited, err := s.inheritedLevel(ctx, &u, parent)
		if err != nil {
			return MemberView{}, err
		}
		if level < inherited {
			return MemberView{}, Invalid("access_level", "should be greater than or equal to %d, the level inherited from a parent group", inherited)
		}
	}
	m := GroupMember{GroupID: g.ID, UserID: userID, AccessLevel: level, CreatedAt: created}
	switch err := s.Store.PutGroupMember(ctx, m); {
	case errors.Is(err, ErrLastOwner):
		return MemberView{}, errGroupNeedsOwner
	case errors.Is(err, ErrNotFound):
		return MemberView{}, ErrGroupNotFound
	case err != nil:
		return MemberView{}, fmt.Errorf("put group member: %w", err)
	}
	s.record(ctx, memberEvent(a, create, m.AccessLevel, u, EntityGroup, g.ID, g.FullPath))
	return MemberView{Member: asMember(m), User: u}, nil
}

// RemoveGroupMember removes a group's member; maintainers remove members
// up to their own level, any member may leave, and the last owner may
// not.
func (s *Service) RemoveGroupMember(ctx context.Context, a *Actor, ref string, userID int64) error {
	need := Maintainer
	if a.User.ID == userID {
		need = Guest
	}
	g, have, err := s.GroupFor(ctx, a, ref, need)
	if err != nil {
		return err
	}
	m, err := s.Store.GroupMember(ctx, g.ID, userID)
	if errors.Is(err, ErrNotFound) {
		return ErrMemberNotFound
	}
	if err != nil {
		return err
	}
	if m.AccessLevel > have {
		return ErrForbidden
	}
	switch err := s.Store.DeleteGroupMember(ctx, g.ID, userID); {
	case errors.Is(err, ErrLastOwner):
		return errGroupNeedsOwner
	case errors.Is(err, ErrNotFound):
		return ErrMemberNotFound
	case err != nil:
		return err
	}
	s.record(ctx, memberRemoved(a, userID, EntityGroup, g.ID, g.FullPath))
	return nil
}

// onlyOwnerOfGroups answers the full paths of the groups whose only owner
// is user id.
func (s *Service) onlyOwnerOfGroups(ctx context.Context, id int64) ([]string, error) {
	ms, err := s.Store.GroupMembershipsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, m := range ms {
		if m.AccessLevel != Owner {
			continue
		}
		all, err := s.Store.ListGroupMembers(ctx, m.GroupID)
		if err != nil {
			return nil, err
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
		g, err := s.Store.Group(ctx, m.GroupID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		paths = append(paths, "group "+g.FullPath)
	}
	return paths, nil
}

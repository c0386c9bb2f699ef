package tokens

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MigrateNamespaces turns the namespaces that existed only implicitly
// before groups (a project's path that does not start with a username)
// into groups: it creates the groups missing along each such project's
// namespace, owned by the owners of the projects under them and as
// visible as the most visible of those projects, and moves each project
// into its group. Run at start; a second run finds nothing to do. It
// answers how many projects it moved.
func (s *Service) MigrateNamespaces(ctx context.Context) (int, error) {
	all, err := s.Store.ListProjects(ctx)
	if err != nil {
		return 0, err
	}
	var legacy []Project
	for _, p := range all {
		if p.NamespaceID != 0 {
			continue
		}
		top, _, _ := strings.Cut(p.PathWithNamespace, "/")
		switch _, err := s.Store.UserByUsername(ctx, top); {
		case err == nil:
			continue // a personal namespace
		case !errors.Is(err, ErrNotFound):
			return 0, err
		}
		legacy = append(legacy, p)
	}
	if len(legacy) == 0 {
		return 0, nil
	}
	// The owners and the most open visibility below each namespace.
	owners := map[string][]int64{}
	vis := map[string]Visibility{}
	for _, p := range legacy {
		ms, err := s.Store.ListMembers(ctx, p.ID)
		if err != nil {
			return 0, err
		}
		var own []int64
		for _, m := range ms {
			if m.AccessLevel == Owner {
				own = append(own, m.UserID)
			}
		}
		if len(own) == 0 {
			// An ownerless group would be anyone's to claim later;
			// the admin user holds it instead.
			root, err := s.Store.UserByUsername(ctx, "root")
			if err != nil {
				return 0, fmt.Errorf("owner for the groups above %q: %w", p.PathWithNamespace, err)
			}
			own = append(own, root.ID)
		}
		segs := strings.Split(p.PathWithNamespace, "/")
		for i := 1; i < len(segs); i++ {
			ns := strings.ToLower(strings.Join(segs[:i], "/"))
			for _, id := range own {
				if !slices.Contains(owners[ns], id) {
					owners[ns] = append(owners[ns], id)
				}
			}
			if visibilityRank(p.Visibility) >= visibilityRank(vis[ns]) {
				vis[ns] = p.Visibility
			}
		}
	}
	moved := 0
	for _, p := range legacy {
		segs := strings.Split(p.PathWithNamespace, "/")
		var parent Group
		for i := 1; i < len(segs); i++ {
			full := strings.Join(segs[:i], "/")
			g, err := s.migrationGroup(ctx, full, parent, owners[strings.ToLower(full)], vis[strings.ToLower(full)])
			if err != nil {
				return moved, fmt.Errorf("group %q for project %q: %w", full, p.PathWithNamespace, err)
			}
			parent = g
		}
		if err := s.Store.SetProjectNamespace(ctx, p.ID, parent.ID); err != nil {
			return moved, fmt.Errorf("move project %q into group %q: %w", p.PathWithNamespace, parent.FullPath, err)
		}
		moved++
		s.log().InfoContext(ctx, "project moved into its group", "project", p.PathWithNamespace, "group", parent.FullPath)
	}
	return moved, nil
}

// migrationGroup answers the group at full, creating it inside parent
// (the zero Group at the top level) when missing, with owners as its
// owners.
func (s *Service) migrationGroup(ctx context.Context, full string, parent Group, owners []int64, vis Visibility) (Group, error) {
	g, err := s.Store.GroupByPath(ctx, full)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return g, err
	}
	if parent.ID != 0 && visibilityRank(vis) > visibilityRank(parent.Visibility) {
		vis = parent.Visibility
	}
	path := full[strings.LastIndex(full, "/")+1:]
	now := s.Clock()
	g = Group{Name: path, Path: path, FullPath: full, ParentID: parent.ID, Visibility: vis, CreatorID: owners[0], CreatedAt: now}
	if err := s.Store.CreateGroup(ctx, &g, GroupMember{UserID: owners[0], AccessLevel: Owner, CreatedAt: now}); err != nil {
		if errors.Is(err, ErrConflict) {
			// Another replica migrating at once made it.
			return s.Store.GroupByPath(ctx, full)
		}
		return g, err
	}
	for _, id := range owners[1:] {
		if err := s.Store.PutGroupMember(ctx, GroupMember{GroupID: g.ID, UserID: id, AccessLevel: Owner, CreatedAt: now}); err != nil && !errors.Is(err, ErrNotFound) {
			return g, err
		}
	}
	s.log().InfoContext(ctx, "group created from a namespace", "group", full, "owners", len(owners))
	return g, nil
}

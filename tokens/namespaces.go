package tokens

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Kinds of namespace, as GitLab names them.
const (
	NamespaceUser  = "user"
	NamespaceGroup = "group"
)

// UserNamespaceBase is added to a user's ID to make their personal
// namespace's ID. Groups and users count their IDs apart, and a namespace
// ID must say which it is: GitLab's clients pass it back as namespace_id.
// Group namespaces have the group's ID.
const UserNamespaceBase int64 = 1_000_000_000_000

// ErrNamespaceNotFound answers a namespace that does not exist or that the
// caller may not know exists.
var ErrNamespaceNotFound = &Error{Kind: KindNotFound, Subject: "Namespace"}

// Namespace is where projects live: a user's personal namespace or a
// group.
type Namespace struct {
	ID       int64
	Name     string
	Path     string
	Kind     string
	FullPath string
	// ParentID is a group's parent; 0 for top-level groups and users.
	ParentID int64
}

func groupNamespace(g Group) Namespace {
	return Namespace{ID: g.ID, Name: g.Name, Path: g.Path, Kind: NamespaceGroup, FullPath: g.FullPath, ParentID: g.ParentID}
}

func userNamespace(u User) Namespace {
	return Namespace{ID: UserNamespaceBase + u.ID, Name: u.Name, Path: u.Username, Kind: NamespaceUser, FullPath: u.Username}
}

// NamespaceOf answers the namespace project p lives in: its group, or the
// user its path starts with.
func (s *Service) NamespaceOf(ctx context.Context, p Project) (Namespace, error) {
	if p.NamespaceID != 0 {
		g, err := s.Store.Group(ctx, p.NamespaceID)
		if err != nil {
			return Namespace{}, err
		}
		return groupNamespace(g), nil
	}
	top, _, _ := strings.Cut(p.PathWithNamespace, "/")
	u, err := s.Store.UserByUsername(ctx, top)
	if err != nil {
		return Namespace{}, err
	}
	return userNamespace(u), nil
}

// FindNamespace resolves a namespace ID or full path for the actor: any
// group they may see, their own namespace, and, for admins, every user's.
func (s *Service) FindNamespace(ctx context.Context, a *Actor, ref string) (Namespace, error) {
	if id, ok := ParseID(ref); ok && id > UserNamespaceBase {
		u, err := s.Store.User(ctx, id-UserNamespaceBase)
		if err != nil || (u.ID != a.User.ID && !a.User.Admin) {
			return Namespace{}, notFoundAs(err, ErrNamespaceNotFound)
		}
		return userNamespace(u), nil
	}
	g, _, err := s.GroupFor(ctx, a, ref, 0)
	if err == nil {
		return groupNamespace(g), nil
	}
	if !errors.Is(err, ErrGroupNotFound) {
		return Namespace{}, err
	}
	if _, ok := ParseID(ref); ok || strings.Contains(ref, "/") {
		return Namespace{}, ErrNamespaceNotFound
	}
	u, err := s.Store.UserByUsername(ctx, ref)
	if err != nil || (u.ID != a.User.ID && !a.User.Admin) {
		return Namespace{}, notFoundAs(err, ErrNamespaceNotFound)
	}
	return userNamespace(u), nil
}

// notFoundAs answers notFound for a nil or not-found err, err otherwise.
func notFoundAs(err, notFound error) error {
	if err == nil || errors.Is(err, ErrNotFound) {
		return notFound
	}
	return err
}

// Namespaces answers the namespaces the actor may create projects in, as
// GitLab's GET /namespaces: their own and the groups they are a member of
// with those below them; for admins every user's and every group. search
// selects those whose path or name holds it, in any case.
func (s *Service) Namespaces(ctx context.Context, a *Actor, search string) ([]Namespace, error) {
	var out []Namespace
	if a.User.Admin {
		us, _, err := s.Store.ListUsers(ctx, UserQuery{Search: search, Page: Page{Limit: 1 << 30}})
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			out = append(out, userNamespace(u))
		}
		gs, _, err := s.ListGroups(ctx, a, GroupQuery{Search: search, Limit: 1 << 30})
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			out = append(out, groupNamespace(g))
		}
	} else {
		out = append(out, userNamespace(a.User))
		ms, err := s.Store.GroupMembershipsOf(ctx, a.User.ID)
		if err != nil {
			return nil, err
		}
		seen := map[int64]bool{}
		var walk func(Group) error
		walk = func(g Group) error {
			if seen[g.ID] {
				return nil
			}
			seen[g.ID] = true
			out = append(out, groupNamespace(g))
			subs, err := s.Store.ListSubgroups(ctx, g.ID)
			if err != nil {
				return err
			}
			for _, sub := range subs {
				if err := walk(sub); err != nil {
					return err
				}
			}
			return nil
		}
		for _, m := range ms {
			g, err := s.Store.Group(ctx, m.GroupID)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if err := walk(g); err != nil {
				return nil, err
			}
		}
	}
	if search == "" {
		return out, nil
	}
	q := strings.ToLower(search)
	kept := out[:0]
	for _, n := range out {
		if strings.Contains(strings.ToLower(n.FullPath), q) || strings.Contains(strings.ToLower(n.Name), q) {
			kept = append(kept, n)
		}
	}
	return kept, nil
}

// placement is where a new project goes: into group groupID (0: a user's
// namespace), after creating the groups missing along its namespace.
type placement struct {
	groupID int64
	// create are the full paths of the groups to create, outermost
	// first, the first one inside groupID (or at the top level).
	create []string
}

// namespaceRights decides whether a may create a project in namespace ns,
// and where it goes. One's own username is one's personal namespace;
// another user's is only admins'. A group takes Maintainer or more there
// (inherited included). A namespace that is no group yet is created, as
// groups along the path, by whoever may create groups there: at the top
// level anyone unless NoTopLevelGroups, below an existing group its
// maintainers. Every refusal is one answer naming only the first segment,
// so it tells nothing of what sits at the path.
func (s *Service) namespaceRights(ctx context.Context, a *Actor, ns string) (placement, error) {
	top, _, _ := strings.Cut(ns, "/")
	forbidden := Forbidden("you may not create projects in namespace_path %q", top)
	if strings.EqualFold(top, a.User.Username) {
		return placement{}, nil
	}
	switch _, err := s.Store.UserByUsername(ctx, top); {
	case err == nil && a.User.Admin:
		return placement{}, nil
	case err == nil:
		return placement{}, forbidden
	case !errors.Is(err, ErrNotFound):
		return placement{}, err
	}
	along, err := s.Store.GroupsAlong(ctx, ns)
	if err != nil {
		return placement{}, err
	}
	var out placement
	depth := 0 // segments of ns that are groups already
	if n := len(along); n > 0 {
		nearest := along[n-1]
		level, err := s.GroupAccessLevel(ctx, &a.User, &nearest)
		if err != nil {
			return placement{}, err
		}
		if level < Maintainer {
			return placement{}, forbidden
		}
		out.groupID = nearest.ID
		depth = strings.Count(nearest.FullPath, "/") + 1
	} else if s.NoTopLevelGroups && !a.User.Admin {
		return placement{}, forbidden
	}
	segs := strings.Split(ns, "/")
	for i := depth; i < len(segs); i++ {
		out.create = append(out.create, strings.Join(segs[:i+1], "/"))
	}
	return out, nil
}

// makeNamespace creates the groups pl.create, owned by the actor, with
// visibility vis (no more than the parent's), and answers the innermost
// group's ID. A group created meanwhile by someone else is used when the
// actor may create projects in it.
func (s *Service) makeNamespace(ctx context.Context, a *Actor, pl placement, vis Visibility) (int64, error) {
	parent := pl.groupID
	if parent != 0 && len(pl.create) > 0 {
		pg, err := s.Store.Group(ctx, parent)
		if errors.Is(err, ErrNotFound) {
			return 0, Invalid("namespace_path", "was deleted meanwhile")
		} else if err != nil {
			return 0, err
		}
		if visibilityRank(vis) > visibilityRank(pg.Visibility) {
			vis = pg.Visibility
		}
	}
	for _, full := range pl.create {
		path := full[strings.LastIndex(full, "/")+1:]
		g := Group{Name: path, Path: path, FullPath: full, ParentID: parent, Visibility: vis, CreatorID: a.User.ID, CreatedAt: s.Clock()}
		err := s.Store.CreateGroup(ctx, &g, GroupMember{UserID: a.User.ID, AccessLevel: Owner, CreatedAt: g.CreatedAt})
		switch {
		case err == nil:
			s.log().InfoContext(ctx, "group created for a project", "group", full, "group_id", g.ID, "by", a.User.Username)
		case errors.Is(err, ErrConflict):
			// A group (ours to use if we may) or a project took it.
			if g, err = s.Store.GroupByPath(ctx, full); errors.Is(err, ErrNotFound) {
				return 0, Invalid("path", "cannot be nested with another project")
			} else if err != nil {
				return 0, err
			}
			level, err := s.GroupAccessLevel(ctx, &a.User, &g)
			if err != nil {
				return 0, err
			}
			if level < Maintainer {
				top, _, _ := strings.Cut(full, "/")
				return 0, Forbidden("you may not create projects in namespace_path %q", top)
			}
		case errors.Is(err, ErrNested):
			return 0, Invalid("path", "cannot be nested with another project")
		case errors.Is(err, ErrNotFound):
			return 0, Invalid("namespace_path", "was deleted meanwhile")
		default:
			return 0, fmt.Errorf("create group %q: %w", full, err)
		}
		parent = g.ID
	}
	return parent, nil
}

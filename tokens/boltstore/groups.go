package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// Buckets of groups. Files written before groups existed get them, empty,
// when they are opened.
var (
	bGroups           = []byte("groups")            // id -> Group
	bGroupsByPath     = []byte("groups_by_path")    // lower(full path) -> id
	bSubgroups        = []byte("subgroups")         // parent id, group id -> nothing
	bGroupProjects    = []byte("group_projects")    // group id, project id -> nothing
	bGroupMembers     = []byte("group_members")     // group id, user id -> GroupMember
	bGroupMemberships = []byte("group_memberships") // user id, group id -> nothing
	bGroupTokens      = []byte("group_tokens")      // group id, token id -> nothing
)

// parentPath answers the lowercase full path of the namespace that holds
// lower, and false at the top level.
func parentPath(lower []byte) ([]byte, bool) {
	i := bytes.LastIndexByte(lower, '/')
	if i < 0 {
		return nil, false
	}
	return lower[:i], true
}

// groupAt reports whether the group id has the lowercase full path lower:
// the index entry for lower names it, so a deleted group, or another one
// at that path, is not taken for it.
func groupAt(tx *bolt.Tx, lower []byte, id int64) bool {
	v := tx.Bucket(bGroupsByPath).Get(lower)
	return v != nil && btoi(v) == id
}

// checkProjectAmongGroups refuses a project whose lowercase path lower is a
// group's (ErrConflict) or holds one (ErrNested), and one whose namespace
// group rec.NamespaceID is gone or is not the group at its namespace
// (ErrNotFound).
func checkProjectAmongGroups(tx *bolt.Tx, rec *tokens.Project, lower []byte) error {
	if tx.Bucket(bGroupsByPath).Get(lower) != nil {
		return fmt.Errorf("project %q is a group's path: %w", rec.PathWithNamespace, tokens.ErrConflict)
	}
	if under(tx.Bucket(bGroupsByPath), lower) {
		return fmt.Errorf("project %q holds a group: %w", rec.PathWithNamespace, tokens.ErrNested)
	}
	if rec.NamespaceID == 0 {
		return nil
	}
	if ns, ok := parentPath(lower); !ok || !groupAt(tx, ns, rec.NamespaceID) {
		return notFound("namespace group", rec.NamespaceID)
	}
	return nil
}

// under reports whether a key of b starts with lower and "/".
func under(b *bolt.Bucket, lower []byte) bool {
	prefix := append(slices.Clip(lower), '/')
	k, _ := b.Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

// tokenOwner answers the list bucket and the ID of the project or group
// that rec belongs to; ErrNotFound when it does not exist.
func tokenOwner(tx *bolt.Tx, rec *tokens.DeployToken) ([]byte, int64, error) {
	switch {
	case (rec.ProjectID == 0) == (rec.GroupID == 0):
		return nil, 0, fmt.Errorf("deploy token of project %d and group %d: want exactly one", rec.ProjectID, rec.GroupID)
	case rec.GroupID != 0:
		if !exists(tx, bGroups, rec.GroupID) {
			return nil, 0, notFound("group", rec.GroupID)
		}
		return bGroupTokens, rec.GroupID, nil
	}
	if !exists(tx, bProjects, rec.ProjectID) {
		return nil, 0, notFound("project", rec.ProjectID)
	}
	return bProjectTokens, rec.ProjectID, nil
}

// CreateGroup assigns g.ID and stores g with its owner member in one
// transaction.
func (s *Store) CreateGroup(ctx context.Context, g *tokens.Group, owner tokens.GroupMember) error {
	rec := *g
	err := s.update("create group", func(tx *bolt.Tx) error {
		if !exists(tx, bUsers, owner.UserID) {
			return notFound("user", owner.UserID)
		}
		lower := fold(rec.FullPath)
		parent, nested := parentPath(lower)
		switch {
		case nested != (rec.ParentID != 0):
			return notFound("parent group", rec.ParentID)
		case nested && !groupAt(tx, parent, rec.ParentID):
			return notFound("parent group", rec.ParentID)
		case !nested && tx.Bucket(bUsersByName).Get(lower) != nil:
			return fmt.Errorf("group %q is a username: %w", rec.FullPath, tokens.ErrConflict)
		case tx.Bucket(bProjectsByPath).Get(lower) != nil:
			return fmt.Errorf("group %q is a project's path: %w", rec.FullPath, tokens.ErrConflict)
		case nestedInProject(tx, lower):
			return fmt.Errorf("group %q: %w", rec.FullPath, tokens.ErrNested)
		}
		id, err := nextID(tx, bGroups)
		if err != nil {
			return err
		}
		rec.ID = id
		if err := claim(tx, bGroupsByPath, lower, id); err != nil {
			return err
		}
		if err := put(tx, bGroups, itob(id), &rec); err != nil {
			return err
		}
		if nested {
			if err := putKey(tx, bSubgroups, pair(rec.ParentID, id)); err != nil {
				return err
			}
		}
		owner.GroupID = id
		return putGroupMember(tx, owner)
	})
	if err == nil {
		*g = rec
	}
	return err
}

// nestedInProject reports whether a project's path is a namespace above
// the lowercase path lower.
func nestedInProject(tx *bolt.Tx, lower []byte) bool {
	b := tx.Bucket(bProjectsByPath)
	for i, c := range lower {
		if c == '/' && b.Get(lower[:i]) != nil {
			return true
		}
	}
	return false
}

// Group answers the group with id.
func (s *Store) Group(ctx context.Context, id int64) (tokens.Group, error) {
	var g tokens.Group
	err := s.view("group", func(tx *bolt.Tx) error { return mustGet(tx, bGroups, id, &g, "group") })
	return g, err
}

// GroupByPath answers the group whose full path equals fullPath in any
// case.
func (s *Store) GroupByPath(ctx context.Context, fullPath string) (tokens.Group, error) {
	var g tokens.Group
	err := s.view("group by path", func(tx *bolt.Tx) error {
		return byIndex(tx, bGroupsByPath, fold(fullPath), bGroups, &g, "group")
	})
	return g, err
}

// GroupsAlong answers the groups at path and at every namespace above it,
// outermost first, in one transaction.
func (s *Store) GroupsAlong(ctx context.Context, path string) ([]tokens.Group, error) {
	var out []tokens.Group
	err := s.view("groups along", func(tx *bolt.Tx) error {
		lower := fold(path)
		for i := range len(lower) + 1 {
			if i < len(lower) && lower[i] != '/' {
				continue
			}
			id := tx.Bucket(bGroupsByPath).Get(lower[:i])
			if id == nil {
				continue
			}
			var g tokens.Group
			if ok, err := get(tx, bGroups, id, &g); err != nil {
				return err
			} else if ok {
				out = append(out, g)
			}
		}
		return nil
	})
	return out, err
}

// ListGroups answers up to limit groups above afterID, by ID, from a
// cursor placed at afterID+1.
func (s *Store) ListGroups(ctx context.Context, afterID int64, limit int) ([]tokens.Group, error) {
	var out []tokens.Group
	if limit < 1 {
		return out, nil
	}
	err := s.view("list groups", func(tx *bolt.Tx) error {
		c := tx.Bucket(bGroups).Cursor()
		for k, v := c.Seek(itob(max(afterID, 0) + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var g tokens.Group
			if err := decode(v, &g); err != nil {
				return fmt.Errorf("decode group: %w", err)
			}
			out = append(out, g)
		}
		return nil
	})
	return out, err
}

// ListSubgroups answers the groups whose parent is parentID, by ID.
func (s *Store) ListSubgroups(ctx context.Context, parentID int64) ([]tokens.Group, error) {
	return listByPair[tokens.Group](s, "list subgroups", bSubgroups, parentID, bGroups)
}

// ListGroupProjects answers the projects of groupID, by ID.
func (s *Store) ListGroupProjects(ctx context.Context, groupID int64) ([]tokens.Project, error) {
	return listByPair[tokens.Project](s, "list group projects", bGroupProjects, groupID, bProjects)
}

// listByPair answers the records of b whose IDs the pair index list holds
// under first, in ID order.
func listByPair[D stored](s *Store, op string, list []byte, first int64, b []byte) ([]D, error) {
	var out []D
	err := s.view(op, func(tx *bolt.Tx) error {
		for _, id := range idsWithPrefix(tx, list, first) {
			var v D
			if ok, err := get(tx, b, itob(id), &v); err != nil {
				return err
			} else if ok {
				out = append(out, v)
			}
		}
		return nil
	})
	return out, err
}

// UpdateGroup sets the group's name, description and visibility.
func (s *Store) UpdateGroup(ctx context.Context, g tokens.Group) error {
	return edit(s, "update group", bGroups, g.ID, "group", func(cur *tokens.Group) {
		cur.Name, cur.Description, cur.Visibility = g.Name, g.Description, g.Visibility
	})
}

// DeleteGroup removes an empty group with its members and deploy tokens in
// one transaction.
func (s *Store) DeleteGroup(ctx context.Context, id int64) error {
	return s.update("delete group", func(tx *bolt.Tx) error {
		var g tokens.Group
		if err := mustGet(tx, bGroups, id, &g, "group"); err != nil {
			return err
		}
		if len(idsWithPrefix(tx, bSubgroups, id)) > 0 || len(idsWithPrefix(tx, bGroupProjects, id)) > 0 {
			return fmt.Errorf("group %d: %w", id, tokens.ErrNotEmpty)
		}
		for _, tid := range idsWithPrefix(tx, bGroupTokens, id) {
			var t tokens.DeployToken
			if ok, err := get(tx, bTokens, itob(tid), &t); err != nil {
				return err
			} else if ok {
				if err := tx.Bucket(bTokensByDigest).Delete(t.Digest); err != nil {
					return err
				}
				if err := dropTokenDigest(tx, t.PrevDigest); err != nil {
					return err
				}
				if err := unindexExpiry(tx, &t); err != nil {
					return err
				}
				if err := unindexTokenUsername(tx, &t); err != nil {
					return err
				}
				if err := leaveActive(tx, &t); err != nil {
					return err
				}
			}
			if err := deleteAll(tx, bTokens, itob(tid)); err != nil {
				return err
			}
			if err := deleteAll(tx, bGroupTokens, pair(id, tid)); err != nil {
				return err
			}
		}
		for _, uid := range idsWithPrefix(tx, bGroupMembers, id) {
			if err := deleteGroupMember(tx, id, uid); err != nil {
				return err
			}
		}
		if err := deleteAll(tx, bGroupsByPath, fold(g.FullPath)); err != nil {
			return err
		}
		if err := dropActiveList(tx, tokens.DeployTokenList{GroupID: id}); err != nil {
			return err
		}
		if err := deleteAll(tx, bSubgroups, pair(g.ParentID, id)); err != nil {
			return err
		}
		return deleteAll(tx, bGroups, itob(id))
	})
}

func putGroupMember(tx *bolt.Tx, m tokens.GroupMember) error {
	if err := put(tx, bGroupMembers, pair(m.GroupID, m.UserID), &m); err != nil {
		return err
	}
	return tx.Bucket(bGroupMemberships).Put(pair(m.UserID, m.GroupID), nil)
}

func deleteGroupMember(tx *bolt.Tx, groupID, userID int64) error {
	if err := deleteAll(tx, bGroupMembers, pair(groupID, userID)); err != nil {
		return err
	}
	return deleteAll(tx, bGroupMemberships, pair(userID, groupID))
}

// keepAGroupOwner refuses, with ErrLastOwner, to demote or remove userID
// when it is groupID's only owner, as keepAnOwner does for projects.
func keepAGroupOwner(tx *bolt.Tx, groupID, userID int64) error {
	var cur tokens.GroupMember
	if ok, err := get(tx, bGroupMembers, pair(groupID, userID), &cur); err != nil || !ok || cur.AccessLevel != tokens.Owner {
		return err
	}
	for _, uid := range idsWithPrefix(tx, bGroupMembers, groupID) {
		var m tokens.GroupMember
		if _, err := get(tx, bGroupMembers, pair(groupID, uid), &m); err != nil {
			return err
		}
		if m.AccessLevel == tokens.Owner && uid != userID {
			return nil
		}
	}
	return fmt.Errorf("group member %d/%d: %w", groupID, userID, tokens.ErrLastOwner)
}

// PutGroupMember creates or updates m.
func (s *Store) PutGroupMember(ctx context.Context, m tokens.GroupMember) error {
	return s.update("put group member", func(tx *bolt.Tx) error {
		if !exists(tx, bGroups, m.GroupID) {
			return notFound("group", m.GroupID)
		}
		if !exists(tx, bUsers, m.UserID) {
			return notFound("user", m.UserID)
		}
		if m.AccessLevel != tokens.Owner {
			if err := keepAGroupOwner(tx, m.GroupID, m.UserID); err != nil {
				return err
			}
		}
		return putGroupMember(tx, m)
	})
}

// GroupMember answers the membership of userID in groupID.
func (s *Store) GroupMember(ctx context.Context, groupID, userID int64) (tokens.GroupMember, error) {
	var m tokens.GroupMember
	err := s.view("group member", func(tx *bolt.Tx) error {
		ok, err := get(tx, bGroupMembers, pair(groupID, userID), &m)
		if err == nil && !ok {
			err = notFound("group member", groupID, userID)
		}
		return err
	})
	return m, err
}

// ListGroupMembers answers a group's members ordered by user ID.
func (s *Store) ListGroupMembers(ctx context.Context, groupID int64) ([]tokens.GroupMember, error) {
	var out []tokens.GroupMember
	err := s.view("list group members", func(tx *bolt.Tx) error {
		for _, uid := range idsWithPrefix(tx, bGroupMembers, groupID) {
			var m tokens.GroupMember
			if _, err := get(tx, bGroupMembers, pair(groupID, uid), &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// GroupMembershipsOf answers a user's group memberships ordered by group
// ID.
func (s *Store) GroupMembershipsOf(ctx context.Context, userID int64) ([]tokens.GroupMember, error) {
	var out []tokens.GroupMember
	err := s.view("group memberships", func(tx *bolt.Tx) error {
		for _, gid := range idsWithPrefix(tx, bGroupMemberships, userID) {
			var m tokens.GroupMember
			if ok, err := get(tx, bGroupMembers, pair(gid, userID), &m); err != nil {
				return err
			} else if ok {
				out = append(out, m)
			}
		}
		return nil
	})
	return out, err
}

// DeleteGroupMember removes userID from groupID.
func (s *Store) DeleteGroupMember(ctx context.Context, groupID, userID int64) error {
	return s.update("delete group member", func(tx *bolt.Tx) error {
		if tx.Bucket(bGroupMembers).Get(pair(groupID, userID)) == nil {
			return notFound("group member", groupID, userID)
		}
		if err := keepAGroupOwner(tx, groupID, userID); err != nil {
			return err
		}
		return deleteGroupMember(tx, groupID, userID)
	})
}

func groupDeployToken(tx *bolt.Tx, groupID, id int64, t *tokens.DeployToken) error {
	ok, err := get(tx, bTokens, itob(id), t)
	if err == nil && (!ok || t.GroupID != groupID || groupID == 0) {
		err = notFound("group deploy token", groupID, id)
	}
	return err
}

// ListGroupDeployTokens answers a group's tokens ordered by ID.
func (s *Store) ListGroupDeployTokens(ctx context.Context, groupID int64) ([]tokens.DeployToken, error) {
	return listByPair[tokens.DeployToken](s, "list group deploy tokens", bGroupTokens, groupID, bTokens)
}

// GroupDeployToken answers the token id of groupID.
func (s *Store) GroupDeployToken(ctx context.Context, groupID, id int64) (tokens.DeployToken, error) {
	var t tokens.DeployToken
	err := s.view("group deploy token", func(tx *bolt.Tx) error { return groupDeployToken(tx, groupID, id, &t) })
	return t, err
}

// RevokeGroupDeployToken marks the token revoked; the record stays.
func (s *Store) RevokeGroupDeployToken(ctx context.Context, groupID, id int64) error {
	return s.update("revoke group deploy token", func(tx *bolt.Tx) error {
		var t tokens.DeployToken
		if err := groupDeployToken(tx, groupID, id, &t); err != nil {
			return err
		}
		if err := leaveActive(tx, &t); err != nil {
			return err
		}
		t.Revoked = true
		if err := indexExpiry(tx, &t); err != nil {
			return err
		}
		return put(tx, bTokens, itob(id), &t)
	})
}

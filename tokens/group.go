package tokens

import (
	"context"
	"time"
)

// Group is a namespace that holds projects and subgroups, as GitLab has
// them. Its members have their access level on everything below it, and
// its deploy tokens reach every project in its subtree. One namespace
// holds usernames, groups' full paths and projects' paths without regard
// to case: no two of them are ever equal.
type Group struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Path is the last segment of FullPath.
	Path string `json:"path"`
	// FullPath is the parent's FullPath, "/" and Path, or Path at the top
	// level. It never changes once the group is stored.
	FullPath string `json:"full_path"`
	// ParentID is the group holding this one; 0 at the top level.
	ParentID    int64      `json:"parent_id"`
	Visibility  Visibility `json:"visibility"`
	Description string     `json:"description"`
	CreatorID   int64      `json:"creator_id"`
	CreatedAt   time.Time  `json:"created_at"`
}

// GroupMember is a user's access to a group, and through it to every
// subgroup and project below it.
type GroupMember struct {
	GroupID     int64       `json:"group_id"`
	UserID      int64       `json:"user_id"`
	AccessLevel AccessLevel `json:"access_level"`
	CreatedAt   time.Time   `json:"created_at"`
}

// Groups stores groups, their members and their deploy tokens.
//
// Paths: usernames, groups' full paths and projects' paths share one
// namespace without regard to case. A group's FullPath is never a
// username (only a top-level one could be), a group's or a project's;
// it never sits inside a project's path (ErrNested). Every rule is
// checked by the store in the same atomic step as the write, so of two
// racing writes that break one, exactly one wins.
type Groups interface {
	// CreateGroup assigns g.ID and stores g together with owner (whose
	// GroupID it sets) in one atomic step. ErrConflict when g.FullPath
	// is taken by a group or a project, or, at the top level, by a
	// username; ErrNested when it sits inside a project's path.
	// ErrNotFound when the owner does not exist, when g.ParentID names no
	// group, or when the parent's FullPath and "/" do not lead g.FullPath
	// (the parent was deleted, or is another one), or when a top-level
	// group's FullPath holds a "/". The store keeps g.FullPath as given;
	// only its leading part is checked against the parent.
	CreateGroup(ctx context.Context, g *Group, owner GroupMember) error
	// Group answers the group with id; ErrNotFound when there is none.
	Group(ctx context.Context, id int64) (Group, error)
	// GroupByPath answers the group whose FullPath equals fullPath in any
	// case; ErrNotFound when there is none.
	GroupByPath(ctx context.Context, fullPath string) (Group, error)
	// GroupsAlong answers the groups whose FullPath is path or a leading
	// run of its "/"-separated segments, in any case, outermost first,
	// in one round trip: for a project's path, the groups whose members
	// and deploy tokens reach it. None is not an error.
	GroupsAlong(ctx context.Context, path string) ([]Group, error)
	// ListGroups answers up to limit groups whose ID is above afterID,
	// ordered by ID: page after page, starting from afterID 0 and going
	// on from the last ID answered, each page read through an index,
	// never every record. A limit below 1 answers none.
	ListGroups(ctx context.Context, afterID int64, limit int) ([]Group, error)
	// ListSubgroups answers the groups whose parent is parentID, ordered
	// by ID.
	ListSubgroups(ctx context.Context, parentID int64) ([]Group, error)
	// ListGroupProjects answers the projects whose NamespaceID is
	// groupID, ordered by ID.
	ListGroupProjects(ctx context.Context, groupID int64) ([]Project, error)
	// UpdateGroup sets the Name, Description and Visibility of the group
	// g.ID to g's; every other field stays as stored (a path changes only
	// by a transfer, which this store does not do). ErrNotFound when
	// there is no such group.
	UpdateGroup(ctx context.Context, g Group) error
	// DeleteGroup removes a group with its members and its deploy tokens,
	// so those tokens stop working at once; ErrNotFound when there is no
	// such group, ErrNotEmpty while a subgroup or a project is in it
	// (checked in the same atomic step, so of a delete and a create into
	// the group racing, exactly one wins).
	DeleteGroup(ctx context.Context, id int64) error

	// PutGroupMember creates or updates m; ErrNotFound when the group or
	// the user does not exist, ErrLastOwner when it would demote the
	// group's only owner (atomically, as PutMember).
	PutGroupMember(ctx context.Context, m GroupMember) error
	// GroupMember answers the membership of userID in groupID, not
	// inherited ones; ErrNotFound when there is none.
	GroupMember(ctx context.Context, groupID, userID int64) (GroupMember, error)
	// ListGroupMembers answers a group's own members ordered by user ID.
	ListGroupMembers(ctx context.Context, groupID int64) ([]GroupMember, error)
	// GroupMembershipsOf answers a user's group memberships ordered by
	// group ID.
	GroupMembershipsOf(ctx context.Context, userID int64) ([]GroupMember, error)
	// DeleteGroupMember removes a member; ErrNotFound when there is none,
	// ErrLastOwner when it is the group's only owner (atomically, as
	// DeleteMember).
	DeleteGroupMember(ctx context.Context, groupID, userID int64) error

	// ListGroupDeployTokens answers a group's deploy tokens ordered by
	// ID. DeployTokens.CreateDeployToken creates them.
	ListGroupDeployTokens(ctx context.Context, groupID int64) ([]DeployToken, error)
	// GroupDeployToken answers the token id of groupID; ErrNotFound when
	// there is none, or it is not that group's.
	GroupDeployToken(ctx context.Context, groupID, id int64) (DeployToken, error)
	// RevokeGroupDeployToken marks the token id of groupID revoked; the
	// record stays. ErrNotFound as GroupDeployToken.
	RevokeGroupDeployToken(ctx context.Context, groupID, id int64) error
}

package tokens

import "context"

// Pages answers one page of a list and the list's size, reading only the
// records of the page: each list is an index ordered by ID (a sorted set,
// or keys of one bucket) with a count kept in the same atomic step as the
// writes. The Groups and DeployTokens methods that answer a whole list
// stay for callers that need all of it (inherited membership, the
// namespaces under a group).
type Pages interface {
	// PageGroupMembers answers a page of a group's own members, ordered
	// by user ID, and their number.
	PageGroupMembers(ctx context.Context, groupID int64, p Page) ([]GroupMember, int, error)
	// PageSubgroups answers a page of the groups whose parent is
	// parentID, ordered by ID, and their number.
	PageSubgroups(ctx context.Context, parentID int64, p Page) ([]Group, int, error)
	// PageGroupProjects answers a page of the projects whose NamespaceID
	// is groupID, ordered by ID, and their number.
	PageGroupProjects(ctx context.Context, groupID int64, p Page) ([]Project, int, error)
	// PageGroupDeployTokens answers a page of a group's deploy tokens,
	// ordered by ID, and their number.
	PageGroupDeployTokens(ctx context.Context, groupID int64, p Page) ([]DeployToken, int, error)
	// PageAllDeployTokens answers a page of every deploy token, of
	// projects and of groups, ordered by ID, and their number.
	PageAllDeployTokens(ctx context.Context, p Page) ([]DeployToken, int, error)
	// PageGroups answers a page of every group, ordered by ID, and their
	// number.
	PageGroups(ctx context.Context, p Page) ([]Group, int, error)
	// CountGroups answers the number of groups.
	CountGroups(ctx context.Context) (int, error)
}

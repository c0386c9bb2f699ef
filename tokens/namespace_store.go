package tokens

import "context"

// ProjectNamespaces moves projects stored before groups existed into
// their groups.
type ProjectNamespaces interface {
	// SetProjectNamespace sets the NamespaceID of project projectID to
	// groupID, in one atomic step that checks the group's full path is
	// the namespace of the project's path (without regard to case), so a
	// project never lands in a group it does not sit in. ErrNotFound when
	// the project or the group does not exist, or the paths disagree.
	// Setting the namespace a project has is not an error.
	SetProjectNamespace(ctx context.Context, projectID, groupID int64) error
}

package tokens

import "context"

// ProjectIndex names one of the lists of projects the stores keep ordered
// by ID, each maintained in the same atomic step as the projects it holds.
// A list per visibility level holds the projects visible at that level or
// wider, so that whom a list serves reads one index: an admin every
// project, a signed-in user the internal and public ones (plus their own
// memberships, from the per-user index), an anonymous caller the public
// ones.
type ProjectIndex int

// The project indexes.
const (
	// AllProjects holds every project.
	AllProjects ProjectIndex = iota
	// InternalProjects holds the internal and the public projects.
	InternalProjects
	// PublicProjects holds the public projects.
	PublicProjects
)

// Holds reports whether the index holds a project of visibility v.
func (i ProjectIndex) Holds(v Visibility) bool {
	switch i {
	case AllProjects:
		return true
	case InternalProjects:
		return v == Internal || v == Public
	case PublicProjects:
		return v == Public
	}
	return false
}

// ProjectIndexesOf answers the indexes that hold a project of visibility
// v, for stores writing it.
func ProjectIndexesOf(v Visibility) []ProjectIndex {
	var out []ProjectIndex
	for _, i := range []ProjectIndex{AllProjects, InternalProjects, PublicProjects} {
		if i.Holds(v) {
			out = append(out, i)
		}
	}
	return out
}

// ProjectPages answers projects, a project's deploy tokens and its members
// by the page,
// reading the records of the page only (offset pages in bbolt walk the
// keys before the page, not the records).
type ProjectPages interface {
	// PageProjects answers a page of the projects of index, ordered by
	// ID, and their number.
	PageProjects(ctx context.Context, index ProjectIndex, p Page) ([]Project, int, error)
	// ProjectsAfter answers at most limit projects of index after the ID
	// after, in keyset order: ascending IDs greater than after, or with
	// desc descending IDs less than after (0: from the last one).
	ProjectsAfter(ctx context.Context, index ProjectIndex, after int64, limit int, desc bool) ([]Project, error)
	// ProjectsByID answers the projects of ids that exist, in the order
	// of ids, in one round trip (one transaction).
	ProjectsByID(ctx context.Context, ids []int64) ([]Project, error)
	// CountProjectsBefore answers, for each of ids, how many projects of
	// index have a smaller ID.
	CountProjectsBefore(ctx context.Context, index ProjectIndex, ids []int64) ([]int, error)
	// ProjectsUnder answers at most limit projects whose path with
	// namespace starts with prefix and "/" (without regard to case),
	// ordered by path.
	ProjectsUnder(ctx context.Context, prefix string, limit int) ([]Project, error)
	// PageDeployTokens answers a page of a project's deploy tokens,
	// ordered by ID, and their number.
	PageDeployTokens(ctx context.Context, projectID int64, p Page) ([]DeployToken, int, error)
	// PageMembers answers a page of a project's members, ordered by user
	// ID, and their number.
	PageMembers(ctx context.Context, projectID int64, p Page) ([]Member, int, error)
}

package tokens

import (
	"context"
	"errors"
	"strings"
	"time"
)

// The registry keeps every image of a deleted project, and decides access
// by path alone: whoever creates a project at that path next would own
// them. So a deleted project's path stays dead (reserved: no project may
// be created at it, inside it or around it) until its images are gone, or,
// when the registry is not known to the server, until an admin releases it.
//
// Reservations are store records indexed by path. Deleting a project
// reserves its path in the same atomic step (DeleteProjectReserving), and
// CreateProject refuses a reserved path in its own atomic step, so there
// is no moment at which the path is free between the two, and nothing to
// undo. Of a create and a delete-and-reserve racing at one path, the
// create always loses: before the delete the path is the deleted
// project's (ErrConflict, or ErrNested inside or around it), after it the
// path is reserved (ErrReserved). A delete-and-reserve never lands on a
// project created after it: it names the project by ID, and reserves the
// path that project has when it is deleted, or nothing when it is gone.

// ErrReserved means a project's path is reserved (Covers) by a deleted
// project's.
var ErrReserved = errors.New("reserved for a deleted project")

// DeadPath is the path of a deleted project that no one may take.
type DeadPath struct {
	// Path is the project's path, as it was written.
	Path      string    `json:"path"`
	ProjectID int64     `json:"project_id"`
	DeletedAt time.Time `json:"deleted_at"`
	// Purge is set when the registry is known: the path is released once
	// its images are deleted. Without it only an admin releases the path.
	Purge bool `json:"purge"`
	// PurgedAt is when the images were first deleted; the path stays
	// reserved until the registry tokens issued before the delete expire,
	// and is released after one last deletion.
	PurgedAt time.Time `json:"purged_at,omitzero"`
}

// DeadPathStore keeps the reservations of deleted projects' paths, one
// record per path (without regard to case), indexed so that a create
// checks them without reading them all. Projects.CreateProject answers
// ErrReserved for a path a reservation Covers, in its atomic step.
type DeadPathStore interface {
	// DeleteProjectReserving deletes project id as DeleteProject does and
	// reserves its path in the same atomic step: d with Path and ProjectID
	// taken from the project as stored, replacing a reservation of the
	// same path. It answers the reservation made; ErrNotFound (and nothing
	// reserved) when the project does not exist.
	DeleteProjectReserving(ctx context.Context, id int64, d DeadPath) (DeadPath, error)
	// ReserveDeadPath stores d as it is, replacing a reservation of the
	// same path: for migrations and repairs (deleting a project reserves
	// its path itself).
	ReserveDeadPath(ctx context.Context, d DeadPath) error
	// DeadPath answers the reservation of exactly path; ErrNotFound when
	// there is none.
	DeadPath(ctx context.Context, path string) (DeadPath, error)
	// DeadPathCovering answers a reservation that Covers path (the
	// same path first, then one around it, then one inside it);
	// ErrNotFound when there is none.
	DeadPathCovering(ctx context.Context, path string) (DeadPath, error)
	// ListDeadPaths answers a page of the reservations ordered by their
	// lowercase path, and how many there are.
	ListDeadPaths(ctx context.Context, p Page) ([]DeadPath, int, error)
	// ReleaseDeadPath removes the reservation of path; with projectID not
	// 0, only when it is that project's. ErrNotFound when there is none
	// (or it is another project's), so of concurrent releases one wins.
	ReleaseDeadPath(ctx context.Context, path string, projectID int64) error
	// MarkDeadPathPurged sets PurgedAt of the reservation of path to at
	// when it is projectID's and PurgedAt is unset; ErrNotFound otherwise.
	MarkDeadPathPurged(ctx context.Context, path string, projectID int64, at time.Time) error
}

// LegacyDeadPathsKey is the KV key under which versions before the
// reservation records kept every reservation in one JSON array. A store
// that finds it when it opens moves its entries into records, once, and
// removes it.
const LegacyDeadPathsKey = deadPathsKey

// Reason says why the path is not available, for the caller refused it.
func (d DeadPath) Reason() string {
	// The deleted project's own path is not named: it may have been
	// private, and the caller may be anyone.
	if d.Purge {
		return "belonged to a deleted project whose images are being deleted from the registry; retry later"
	}
	return "belonged to a deleted project whose images the registry may still hold; only an admin may release it"
}

// Covers reports whether a project at path would own images of the dead
// path: the same path, one inside it or one around it (without regard to
// case, as project paths).
func (d DeadPath) Covers(path string) bool {
	a, b := strings.ToLower(d.Path), strings.ToLower(path)
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// deadPathsPage is how many reservations DeadPaths reads at a time.
const deadPathsPage = 500

// DeadPaths answers every reservation, ordered by lowercase path, reading
// them a page at a time. A reservation released while it reads may move
// the ones after it back, so one may be missed; none is answered twice
// unless it is reserved again meanwhile.
func DeadPaths(ctx context.Context, st DeadPathStore) ([]DeadPath, error) {
	var out []DeadPath
	for off := 0; ; off += deadPathsPage {
		ds, total, err := st.ListDeadPaths(ctx, Page{Offset: off, Limit: deadPathsPage})
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
		if len(ds) < deadPathsPage || off+len(ds) >= total {
			return out, nil
		}
	}
}

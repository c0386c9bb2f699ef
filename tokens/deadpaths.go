package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The registry keeps every image of a deleted project, and decides access
// by path alone: whoever creates a project at that path next would own
// them. So a deleted project's path stays dead (reserved: no project may
// be created at it, inside it or around it) until its images are gone, or,
// when the registry is not known to the server, until an admin releases it.

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

// errDeadPathsRecord: a stored value this code did not write.
var errDeadPathsRecord = errors.New("dead paths record does not decode")

// casAttempts bounds the compare-and-swap loop; each loss means another
// write landed, so running out takes that many writers at once.
const casAttempts = 64

// DeadPaths answers every dead path, oldest first.
func DeadPaths(ctx context.Context, kv KV) ([]DeadPath, error) {
	ds, _, err := readDeadPaths(ctx, kv)
	return ds, err
}

func readDeadPaths(ctx context.Context, kv KV) ([]DeadPath, []byte, error) {
	raw, err := kv.Get(ctx, deadPathsKey)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read dead paths: %w", err)
	}
	var ds []DeadPath
	if err := json.Unmarshal(raw, &ds); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errDeadPathsRecord, err)
	}
	return ds, raw, nil
}

// updateDeadPaths applies change to the stored list and swaps it in,
// again from a fresh read whenever another writer got there first.
func updateDeadPaths(ctx context.Context, kv KV, change func([]DeadPath) ([]DeadPath, bool)) error {
	for range casAttempts {
		ds, old, err := readDeadPaths(ctx, kv)
		if err != nil {
			return err
		}
		next, changed := change(slices.Clone(ds))
		if !changed {
			return nil
		}
		b, err := json.Marshal(next)
		if err != nil {
			return err
		}
		err = kv.CompareAndSwap(ctx, deadPathsKey, old, b)
		if !errors.Is(err, ErrConflict) {
			if err != nil {
				return fmt.Errorf("write dead paths: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("write dead paths: %w", ErrConflict)
}

// ReserveDeadPath stores d, replacing a reservation of the same path (a
// project deleted again at a path an admin released meanwhile).
func ReserveDeadPath(ctx context.Context, kv KV, d DeadPath) error {
	return updateDeadPaths(ctx, kv, func(ds []DeadPath) ([]DeadPath, bool) {
		ds = slices.DeleteFunc(ds, func(o DeadPath) bool { return strings.EqualFold(o.Path, d.Path) })
		return append(ds, d), true
	})
}

// ReleaseDeadPath removes the reservation of path (without regard to case);
// ErrNotFound when there is none.
func ReleaseDeadPath(ctx context.Context, kv KV, path string) error {
	found := false
	err := updateDeadPaths(ctx, kv, func(ds []DeadPath) ([]DeadPath, bool) {
		n := len(ds)
		ds = slices.DeleteFunc(ds, func(o DeadPath) bool { return strings.EqualFold(o.Path, path) })
		found = len(ds) < n
		if len(ds) == 0 {
			// An empty array, not a deleted key: CompareAndSwap needs a
			// value to swap against next time.
			ds = []DeadPath{}
		}
		return ds, found
	})
	if err == nil && !found {
		return fmt.Errorf("release dead path %q: %w", path, ErrNotFound)
	}
	return err
}

// markPurged records that d's images were deleted at, unless d was
// released or reserved again meanwhile.
func markPurged(ctx context.Context, kv KV, d DeadPath, at time.Time) error {
	return updateDeadPaths(ctx, kv, func(ds []DeadPath) ([]DeadPath, bool) {
		for i, o := range ds {
			if strings.EqualFold(o.Path, d.Path) && o.ProjectID == d.ProjectID && o.DeletedAt.Equal(d.DeletedAt) && o.PurgedAt.IsZero() {
				ds[i].PurgedAt = at
				return ds, true
			}
		}
		return ds, false
	})
}

// deadPathAt answers the reservation that a project at path would collide
// with, if any.
func deadPathAt(ctx context.Context, kv KV, path string) (DeadPath, bool, error) {
	ds, err := DeadPaths(ctx, kv)
	if err != nil {
		return DeadPath{}, false, err
	}
	for _, d := range ds {
		if d.Covers(path) {
			return d, true, nil
		}
	}
	return DeadPath{}, false, nil
}

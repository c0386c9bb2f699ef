package tokens

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Images deletes images from the container registry.
type Images interface {
	// Purge deletes every image of the repository named path and of every
	// repository under path + "/". Deleting what is already gone is not
	// an error, so a purge can be retried from the start.
	Purge(ctx context.Context, path string) error
}

// DeletedProject is what deleting a project answers besides success.
type DeletedProject struct {
	// PathReserved is set when no project may take the path yet; Reason
	// says why and until when.
	PathReserved bool
	Reason       string
}

const (
	reasonNoRegistry = "the server does not know the registry (DEPLOYTOKENS_REGISTRY_URL), so the project's images were not deleted: its path stays reserved until an admin releases it"
	reasonQueued     = "the registry could not delete the project's images now: they are deleted in the background, and its path stays reserved until then"
	reasonHeld       = "the project's images were deleted from the registry; its path stays reserved until the registry tokens issued before the delete have expired (DEPLOYTOKENS_TOKEN_LIFETIME), and is released after one last deletion"
)

// registryTokenLeeway is how long past its expiry the registry still
// accepts a token (distribution allows a minute of clock skew).
const registryTokenLeeway = time.Minute

// errPurgeHeld: the images are deleted, and the path waits for the
// registry tokens issued before the delete to expire.
var errPurgeHeld = errors.New("registry tokens issued before the delete are still valid")

// heldUntil answers when the last registry token issued before d's
// delete expires: until then its holder may push into the path again.
func (s *Service) heldUntil(d DeadPath) time.Time {
	return d.DeletedAt.Add(s.RegistryTokenLifetime + registryTokenLeeway)
}

// purgeTimeout bounds a purge made while the deleting caller waits; what
// is not done by then is left to the background.
const purgeTimeout = 30 * time.Second

// purgeLease is how long a replica holds a dead path while purging it;
// longer than a purge takes, short enough that one whose replica died is
// soon retried by another.
const purgeLease = 5 * time.Minute

// errPurgeBusy: another replica holds the path's purge lease.
var errPurgeBusy = errors.New("another replica is deleting these images")

// deleteProject removes the project and reserves its path in one store
// step, then removes its repository and (when the registry is known) its
// images.
func (s *Service) deleteProject(ctx context.Context, p Project) (DeletedProject, error) {
	d, err := s.Store.DeleteProjectReserving(ctx, p.ID, DeadPath{DeletedAt: s.Clock(), Purge: s.Images != nil})
	if errors.Is(err, ErrNotFound) {
		// Deleted meanwhile by another caller, who reserved the path.
		return DeletedProject{}, ErrProjectNotFound
	}
	if err != nil {
		return DeletedProject{}, fmt.Errorf("delete project: %w", err)
	}
	s.dropHooks(ctx, p.ID, 0)
	if s.Repos != nil {
		if err := s.Repos.Remove(p.PathWithNamespace); err != nil {
			s.log().Error("remove repository", "project", p.PathWithNamespace, "err", err)
		}
	}
	if s.Images == nil {
		return DeletedProject{PathReserved: true, Reason: reasonNoRegistry}, nil
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeTimeout)
	defer cancel()
	err = s.purge(pctx, d)
	if errors.Is(err, errPurgeHeld) {
		return DeletedProject{PathReserved: true, Reason: reasonHeld}, nil
	}
	if err != nil {
		s.log().Warn("registry images not deleted yet: retrying in the background", "project", d.Path, "err", err)
		return DeletedProject{PathReserved: true, Reason: reasonQueued}, nil
	}
	return DeletedProject{}, nil
}

// purge deletes d's images under a lease, then releases the path, but
// not before the registry tokens issued before the delete have expired:
// until then it answers errPurgeHeld, and the deletion that releases the
// path is one that starts once they have.
func (s *Service) purge(ctx context.Context, d DeadPath) error {
	switch cur, err := s.Store.ProjectByPath(ctx, d.Path); {
	case err == nil && cur.ID == d.ProjectID:
		// Only a reservation made by a version that reserved before it
		// deleted (migrated from LegacyDeadPathsKey) outlives its delete
		// like this: that delete may be under way on an old replica, and
		// releasing now would free the path the moment the project goes.
		if s.Clock().Sub(d.DeletedAt) < purgeLease {
			return errPurgeBusy
		}
		// The delete failed long ago after reserving and could not undo
		// it: the images are a live project's.
		return s.Store.ReleaseDeadPath(ctx, d.Path, d.ProjectID)
	case err != nil && !errors.Is(err, ErrNotFound):
		return err
	}
	start := s.Clock()
	held := start.Before(s.heldUntil(d))
	if held && !d.PurgedAt.IsZero() {
		// Deleted once already: nothing new can be read before the last
		// deletion, and listing the registry's catalog is costly.
		return errPurgeHeld
	}
	err := s.Store.Create(ctx, PurgeLeaseKey(d.Path), []byte(s.Clock().Format(time.RFC3339)), purgeLease)
	if errors.Is(err, ErrConflict) {
		return errPurgeBusy
	}
	if err != nil {
		return err
	}
	defer s.Store.Delete(context.WithoutCancel(ctx), PurgeLeaseKey(d.Path))
	if err := s.Images.Purge(ctx, d.Path); err != nil {
		return err
	}
	if held {
		// Released or reserved again meanwhile (ErrNotFound): nothing
		// of d's is left to mark.
		if err := s.Store.MarkDeadPathPurged(ctx, d.Path, d.ProjectID, start); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return errPurgeHeld
	}
	// Only d's own reservation: a later delete at the path reserved it
	// again with images this purge may have missed.
	if err := s.Store.ReleaseDeadPath(ctx, d.Path, d.ProjectID); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	s.log().InfoContext(ctx, "registry images of a deleted project deleted: path released", "project", d.Path, "project_id", d.ProjectID)
	return nil
}

// RetryPurges purges every dead path whose images are still to be deleted
// (when the registry is known), and answers how many are left. Replicas may
// run it at once: each path is purged under a lease, and purging twice
// deletes nothing twice.
func (s *Service) RetryPurges(ctx context.Context) (int, error) {
	if s.Images == nil {
		return 0, nil
	}
	ds, err := DeadPaths(ctx, s.Store)
	if err != nil {
		return 0, err
	}
	left := 0
	for _, d := range ds {
		if !d.Purge {
			continue
		}
		if err := s.purge(ctx, d); err != nil {
			left++
			if !errors.Is(err, errPurgeBusy) && !errors.Is(err, errPurgeHeld) {
				s.log().WarnContext(ctx, "registry images not deleted yet", "project", d.Path, "err", err)
			}
		}
	}
	return left, nil
}

// RunPurges calls RetryPurges every interval until ctx ends.
func (s *Service) RunPurges(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.RetryPurges(ctx); err != nil && ctx.Err() == nil {
			s.log().WarnContext(ctx, "read the paths whose images are to be deleted", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DeadPaths answers the reserved paths of deleted projects; admins only.
func (s *Service) DeadPaths(ctx context.Context, a *Actor) ([]DeadPath, error) {
	if !a.User.Admin {
		return nil, ErrForbidden
	}
	ds, err := DeadPaths(ctx, s.Store)
	if ds == nil && err == nil {
		ds = []DeadPath{}
	}
	return ds, err
}

// PageDeadPaths answers a page of the reserved paths of deleted projects,
// ordered by path, and how many there are; admins only.
func (s *Service) PageDeadPaths(ctx context.Context, a *Actor, p Page) ([]DeadPath, int, error) {
	if !a.User.Admin {
		return nil, 0, ErrForbidden
	}
	return s.Store.ListDeadPaths(ctx, p)
}

// ErrDeadPathNotFound answers the release of a path that is not reserved.
var ErrDeadPathNotFound = &Error{Kind: KindNotFound, Subject: "Reserved Path"}

// ReleaseDeadPath lets projects be created at path again; admins only, and
// not while the server is deleting its images (it releases it itself).
func (s *Service) ReleaseDeadPath(ctx context.Context, a *Actor, path string) error {
	if !a.User.Admin {
		return ErrForbidden
	}
	d, err := s.Store.DeadPath(ctx, path)
	if errors.Is(err, ErrNotFound) {
		return ErrDeadPathNotFound
	}
	if err != nil {
		return err
	}
	if d.Purge && s.Images != nil {
		return Conflict("the path is released once its images are deleted from the registry")
	}
	// The one read: a reservation made again meanwhile is not the admin's
	// to release unseen.
	if err := s.Store.ReleaseDeadPath(ctx, d.Path, d.ProjectID); errors.Is(err, ErrNotFound) {
		return ErrDeadPathNotFound
	} else if err != nil {
		return err
	}
	s.log().InfoContext(ctx, "reserved path released", "path", d.Path, "by", a.User.Username)
	return nil
}

// checkDeadPath refuses a project at full when it would own a deleted
// project's images. It is only the early answer, before any write (the
// namespace's groups): CreateProject refuses a reserved path itself.
func (s *Service) checkDeadPath(ctx context.Context, full string) error {
	d, err := s.Store.DeadPathCovering(ctx, full)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return Invalid("path", "is not available: it %s", d.Reason())
}

// reservedPath answers the refusal of a project at full that the store
// found reserved.
func (s *Service) reservedPath(ctx context.Context, full string) error {
	d, err := s.Store.DeadPathCovering(ctx, full)
	if err != nil {
		// Released since: the store refused it all the same, and the
		// caller may retry.
		return Invalid("path", "is not available: it belonged to a deleted project; retry later")
	}
	return Invalid("path", "is not available: it %s", d.Reason())
}

package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// bDeadPaths holds the reservations of deleted projects' paths: lower(path)
// -> deadPathRecord. Keys in byte order put a path's reservations inside
// it right after it, so the ones a path Covers are a few Gets and one Seek.
// Its size is kept in bCounts under countKey(bDeadPaths, nil).
var bDeadPaths = []byte("dead_paths")

// migrateDeadPaths creates bDeadPaths in a file written before it existed
// and moves the reservations that file kept in the KV, as one JSON array
// at tokens.LegacyDeadPathsKey, into it, in Open's transaction: a file
// has them in one place or the other, never both nor half.
func migrateDeadPaths(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bDeadPaths); err != nil {
		return err
	}
	kv := tx.Bucket(bKV)
	v, ok := kvValue(kv.Get([]byte(tokens.LegacyDeadPathsKey)), time.Now())
	if !ok {
		return nil
	}
	var rs []deadPathRecord
	if err := json.Unmarshal(v, &rs); err != nil {
		return fmt.Errorf("migrate the reserved paths: %w", err)
	}
	for _, r := range rs {
		if err := putDeadPath(tx, r.deadPath()); err != nil {
			return err
		}
	}
	return kv.Delete([]byte(tokens.LegacyDeadPathsKey))
}

// putDeadPath stores d, replacing the reservation of its path.
func putDeadPath(tx *bolt.Tx, d tokens.DeadPath) error {
	b := tx.Bucket(bDeadPaths)
	key := fold(d.Path)
	data, err := json.Marshal(newDeadPathRecord(&d))
	if err != nil {
		return fmt.Errorf("encode dead path record: %w", err)
	}
	if b.Get(key) == nil {
		if err := countDeadPaths(tx, 1); err != nil {
			return err
		}
	}
	return b.Put(key, data)
}

func countDeadPaths(tx *bolt.Tx, delta int) error {
	ck := countKey(bDeadPaths, nil)
	c := count(tx, bDeadPaths, nil) + delta
	if c <= 0 {
		return tx.Bucket(bCounts).Delete(ck)
	}
	return tx.Bucket(bCounts).Put(ck, binary.BigEndian.AppendUint64(nil, uint64(c)))
}

func decodeDeadPath(data []byte) (tokens.DeadPath, error) {
	var r deadPathRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return tokens.DeadPath{}, fmt.Errorf("decode dead path record: %w", err)
	}
	return r.deadPath(), nil
}

// deadPathAt answers the reservation of exactly lower.
func deadPathAt(tx *bolt.Tx, lower []byte) (tokens.DeadPath, bool, error) {
	data := tx.Bucket(bDeadPaths).Get(lower)
	if data == nil {
		return tokens.DeadPath{}, false, nil
	}
	d, err := decodeDeadPath(data)
	return d, true, err
}

// deadPathCovering answers a reservation that Covers lower: its own, one
// of a namespace above it, or the first inside it.
func deadPathCovering(tx *bolt.Tx, lower []byte) (tokens.DeadPath, bool, error) {
	if d, ok, err := deadPathAt(tx, lower); ok || err != nil {
		return d, ok, err
	}
	for i, c := range lower {
		if c == '/' {
			if d, ok, err := deadPathAt(tx, lower[:i]); ok || err != nil {
				return d, ok, err
			}
		}
	}
	under := append(slices.Clip(lower), '/')
	k, v := tx.Bucket(bDeadPaths).Cursor().Seek(under)
	if k == nil || !bytes.HasPrefix(k, under) {
		return tokens.DeadPath{}, false, nil
	}
	d, err := decodeDeadPath(v)
	return d, true, err
}

// checkNotReserved refuses a project at lower that a reservation Covers.
func checkNotReserved(tx *bolt.Tx, lower []byte) error {
	_, ok, err := deadPathCovering(tx, lower)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("project %q: %w", lower, tokens.ErrReserved)
	}
	return nil
}

// DeleteProjectReserving deletes project id and reserves its path in one
// transaction.
func (s *Store) DeleteProjectReserving(ctx context.Context, id int64, d tokens.DeadPath) (tokens.DeadPath, error) {
	err := s.update("delete project reserving its path", func(tx *bolt.Tx) error {
		p, err := deleteProject(tx, id)
		if err != nil {
			return err
		}
		d.Path, d.ProjectID = p.PathWithNamespace, p.ID
		return putDeadPath(tx, d)
	})
	if err != nil {
		return tokens.DeadPath{}, err
	}
	return d, nil
}

// ReserveDeadPath stores d, replacing the reservation of its path.
func (s *Store) ReserveDeadPath(ctx context.Context, d tokens.DeadPath) error {
	return s.update("reserve path", func(tx *bolt.Tx) error { return putDeadPath(tx, d) })
}

// DeadPath answers the reservation of exactly path, in any case.
func (s *Store) DeadPath(ctx context.Context, path string) (tokens.DeadPath, error) {
	var d tokens.DeadPath
	err := s.view("reserved path", func(tx *bolt.Tx) error {
		var ok bool
		var err error
		if d, ok, err = deadPathAt(tx, fold(path)); err == nil && !ok {
			err = fmt.Errorf("reserved path %q: %w", path, tokens.ErrNotFound)
		}
		return err
	})
	return d, err
}

// DeadPathCovering answers a reservation that Covers path.
func (s *Store) DeadPathCovering(ctx context.Context, path string) (tokens.DeadPath, error) {
	var d tokens.DeadPath
	err := s.view("reserved path covering", func(tx *bolt.Tx) error {
		var ok bool
		var err error
		if d, ok, err = deadPathCovering(tx, fold(path)); err == nil && !ok {
			err = fmt.Errorf("reserved path covering %q: %w", path, tokens.ErrNotFound)
		}
		return err
	})
	return d, err
}

// ListDeadPaths answers a page of the reservations in path order.
func (s *Store) ListDeadPaths(ctx context.Context, p tokens.Page) ([]tokens.DeadPath, int, error) {
	var (
		out   []tokens.DeadPath
		total int
	)
	err := s.view("list reserved paths", func(tx *bolt.Tx) error {
		total = count(tx, bDeadPaths, nil)
		if p.Limit < 1 || p.Offset >= total {
			return nil
		}
		rank := 0
		c := tx.Bucket(bDeadPaths).Cursor()
		for k, v := c.First(); k != nil && len(out) < p.Limit; k, v = c.Next() {
			if rank++; rank <= p.Offset {
				continue
			}
			d, err := decodeDeadPath(v)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, total, err
}

// ReleaseDeadPath removes the reservation of path, when it is projectID's
// (any, for 0).
func (s *Store) ReleaseDeadPath(ctx context.Context, path string, projectID int64) error {
	return s.update("release reserved path", func(tx *bolt.Tx) error {
		key := fold(path)
		d, ok, err := deadPathAt(tx, key)
		if err != nil {
			return err
		}
		if !ok || (projectID != 0 && d.ProjectID != projectID) {
			return fmt.Errorf("reserved path %q: %w", path, tokens.ErrNotFound)
		}
		if err := countDeadPaths(tx, -1); err != nil {
			return err
		}
		return tx.Bucket(bDeadPaths).Delete(key)
	})
}

// MarkDeadPathPurged sets PurgedAt of projectID's reservation of path,
// once.
func (s *Store) MarkDeadPathPurged(ctx context.Context, path string, projectID int64, at time.Time) error {
	return s.update("mark reserved path purged", func(tx *bolt.Tx) error {
		d, ok, err := deadPathAt(tx, fold(path))
		if err != nil {
			return err
		}
		if !ok || d.ProjectID != projectID || !d.PurgedAt.IsZero() {
			return fmt.Errorf("reserved path %q of project %d: %w", path, projectID, tokens.ErrNotFound)
		}
		d.PurgedAt = at
		return putDeadPath(tx, d)
	})
}

package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// The administration indexes: a user's tokens in order, and the blocked
// users. Every user and every token is in its own ID-keyed bucket already.
var (
	bUserPATs     = []byte("user_pats")     // user id, token id -> nothing
	bBlockedUsers = []byte("blocked_users") // user id -> nothing
)

// createAdminIndexes creates the administration indexes of a file written
// before they existed, filled from the records, in Open's transaction: a
// file either has them complete or not at all.
func createAdminIndexes(tx *bolt.Tx) error {
	if tx.Bucket(bUserPATs) == nil {
		b, err := tx.CreateBucket(bUserPATs)
		if err != nil {
			return err
		}
		err = tx.Bucket(bPATs).ForEach(func(k, v []byte) error {
			var t tokens.PersonalAccessToken
			if err := decode(v, &t); err != nil {
				return fmt.Errorf("decode personal access token: %w", err)
			}
			return b.Put(pair(t.UserID, t.ID), nil)
		})
		if err != nil {
			return err
		}
	}
	if tx.Bucket(bBlockedUsers) == nil {
		b, err := tx.CreateBucket(bBlockedUsers)
		if err != nil {
			return err
		}
		err = tx.Bucket(bUsers).ForEach(func(k, v []byte) error {
			var u tokens.User
			if err := decode(v, &u); err != nil {
				return fmt.Errorf("decode user: %w", err)
			}
			if u.Blocked {
				return b.Put(itob(u.ID), nil)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// pageKeys answers the keys of b that start with prefix ("" for all) from
// rank p.Offset, at most p.Limit of them, and how many keys have prefix,
// b being counted (bCounts) with lists of that prefix. bbolt keeps no
// ranks: the rank is reached through the counts of ID blocks (see
// bBlocks), then by stepping over the keys (never the values) of one
// block, and the total is one read. The records of a page are read by the
// caller.
func pageKeys(tx *bolt.Tx, b, prefix []byte, p tokens.Page) ([][]byte, int) {
	keys, total, _ := pageKeysWalked(tx, b, prefix, p)
	return keys, total
}

// pageKeysWalked is pageKeys that also answers how many index keys and
// block counts it read.
func pageKeysWalked(tx *bolt.Tx, b, prefix []byte, p tokens.Page) ([][]byte, int, int) {
	total := count(tx, b, prefix)
	if p.Limit < 1 || p.Offset >= total {
		return nil, total, 0
	}
	from, skip, walked := seekRank(tx, b, prefix, p.Offset)
	var keys [][]byte
	c := tx.Bucket(b).Cursor()
	for k, _ := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(keys) < p.Limit; k, _ = c.Next() {
		walked++
		if skip > 0 {
			skip--
			continue
		}
		keys = append(keys, bytes.Clone(k))
	}
	return keys, total, walked
}

// ListUsers answers a page of the users q selects and their number.
func (s *Store) ListUsers(ctx context.Context, q tokens.UserQuery) ([]tokens.User, int, error) {
	var (
		out   []tokens.User
		total int
	)
	err := s.view("list users", func(tx *bolt.Tx) error {
		index := bUsers
		if q.Blocked {
			index = bBlockedUsers
		}
		switch {
		case q.Username != "":
			var u tokens.User
			id := tx.Bucket(bUsersByName).Get(fold(q.Username))
			if id == nil {
				return nil
			}
			if err := mustGet(tx, bUsers, btoi(id), &u, "user"); err != nil {
				return err
			}
			if q.Matches(u) {
				out, total = tokens.PageOf([]tokens.User{u}, q.Page), 1
			}
			return nil
		case q.Search != "":
			return tx.Bucket(index).ForEach(func(k, _ []byte) error {
				var u tokens.User
				if err := mustGet(tx, bUsers, btoi(k), &u, "user"); err != nil {
					return err
				}
				if q.Matches(u) {
					if total >= q.Offset && total < q.Offset+q.Limit {
						out = append(out, u)
					}
					total++
				}
				return nil
			})
		}
		var keys [][]byte
		keys, total = pageKeys(tx, index, nil, q.Page)
		for _, k := range keys {
			var u tokens.User
			if err := mustGet(tx, bUsers, btoi(k), &u, "user"); err != nil {
				return err
			}
			out = append(out, u)
		}
		return nil
	})
	return out, total, err
}

// SetUserBlocked blocks or unblocks a user.
func (s *Store) SetUserBlocked(ctx context.Context, id int64, blocked bool) error {
	return s.update("set user blocked", func(tx *bolt.Tx) error {
		var u tokens.User
		if err := mustGet(tx, bUsers, id, &u, "user"); err != nil {
			return err
		}
		u.Blocked = blocked
		if err := put(tx, bUsers, itob(id), &u); err != nil {
			return err
		}
		if blocked {
			return putKey(tx, bBlockedUsers, itob(id))
		}
		return deleteAll(tx, bBlockedUsers, itob(id))
	})
}

// DeleteUser removes a user with their memberships and tokens in one
// transaction.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.update("delete user", func(tx *bolt.Tx) error {
		var u tokens.User
		if err := mustGet(tx, bUsers, id, &u, "user"); err != nil {
			return err
		}
		pids := idsWithPrefix(tx, bMemberships, id)
		for _, pid := range pids {
			if err := keepAnOwner(tx, pid, id); err != nil {
				return err
			}
		}
		gids := idsWithPrefix(tx, bGroupMemberships, id)
		for _, gid := range gids {
			if err := keepAGroupOwner(tx, gid, id); err != nil {
				return err
			}
		}
		for _, pid := range pids {
			if err := deleteMember(tx, pid, id); err != nil {
				return err
			}
		}
		for _, gid := range gids {
			if err := deleteGroupMember(tx, gid, id); err != nil {
				return err
			}
		}
		for _, tid := range idsWithPrefix(tx, bUserPATs, id) {
			var t tokens.PersonalAccessToken
			if ok, err := get(tx, bPATs, itob(tid), &t); err != nil {
				return err
			} else if ok {
				if err := tx.Bucket(bPATsByDigest).Delete(t.Digest); err != nil {
					return err
				}
			}
			if err := deleteAll(tx, bPATs, itob(tid)); err != nil {
				return err
			}
			if err := deleteAll(tx, bUserPATs, pair(id, tid)); err != nil {
				return err
			}
		}
		if byName := tx.Bucket(bUsersByName).Get(fold(u.Username)); byName != nil && btoi(byName) == id {
			if err := deleteAll(tx, bUsersByName, fold(u.Username)); err != nil {
				return err
			}
		}
		if err := deleteAll(tx, bBlockedUsers, itob(id)); err != nil {
			return err
		}
		return deleteAll(tx, bUsers, itob(id))
	})
}

// ListPATs answers a page of the tokens q selects and their number.
func (s *Store) ListPATs(ctx context.Context, q tokens.PATQuery) ([]tokens.PersonalAccessToken, int, error) {
	var (
		out   []tokens.PersonalAccessToken
		total int
	)
	err := s.view("list personal access tokens", func(tx *bolt.Tx) error {
		var keys [][]byte
		if q.UserID == 0 {
			keys, total = pageKeys(tx, bPATs, nil, q.Page)
		} else {
			keys, total = pageKeys(tx, bUserPATs, itob(q.UserID), q.Page)
			for i, k := range keys {
				keys[i] = k[8:]
			}
		}
		for _, k := range keys {
			var t tokens.PersonalAccessToken
			if err := mustGet(tx, bPATs, btoi(k), &t, "personal access token"); err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	return out, total, err
}

// insertPAT assigns rec.ID and writes rec with its digest index and its
// place in its user's list, the user known to exist.
func insertPAT(tx *bolt.Tx, rec *tokens.PersonalAccessToken) error {
	id, err := nextID(tx, bPATs)
	if err != nil {
		return err
	}
	rec.ID = id
	if err := claim(tx, bPATsByDigest, rec.Digest, id); err != nil {
		return err
	}
	if err := putKey(tx, bUserPATs, pair(rec.UserID, id)); err != nil {
		return err
	}
	return put(tx, bPATs, itob(id), rec)
}

// RotatePAT revokes oldID and creates t in one transaction; t.UserID must
// be the old token's user.
func (s *Store) RotatePAT(ctx context.Context, oldID int64, t *tokens.PersonalAccessToken) error {
	if len(t.Digest) == 0 {
		return fmt.Errorf("rotate personal access token: empty digest")
	}
	rec := *t
	err := s.update("rotate personal access token", func(tx *bolt.Tx) error {
		var old tokens.PersonalAccessToken
		if err := mustGet(tx, bPATs, oldID, &old, "personal access token"); err != nil {
			return err
		}
		if old.UserID != t.UserID || !exists(tx, bUsers, t.UserID) {
			return notFound("personal access token", oldID)
		}
		if old.Revoked {
			return fmt.Errorf("personal access token %d is revoked: %w", oldID, tokens.ErrConflict)
		}
		old.Revoked = true
		if err := put(tx, bPATs, itob(oldID), &old); err != nil {
			return err
		}
		return insertPAT(tx, &rec)
	})
	if err == nil {
		*t = rec
	}
	return err
}

// UpdateProject applies c to project id and answers the result.
func (s *Store) UpdateProject(ctx context.Context, id int64, c tokens.ProjectChange) (tokens.Project, error) {
	var p tokens.Project
	err := s.update("update project", func(tx *bolt.Tx) error {
		if err := mustGet(tx, bProjects, id, &p, "project"); err != nil {
			return err
		}
		if c.Name != "" {
			p.Name = c.Name
		}
		if c.Visibility != "" {
			p.Visibility = c.Visibility
		}
		if err := indexProject(tx, &p); err != nil {
			return err
		}
		return put(tx, bProjects, itob(id), &p)
	})
	return p, err
}

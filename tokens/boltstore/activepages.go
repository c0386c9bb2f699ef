package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// The active deploy tokens of a list (tokens.ActiveTokenPages). A list is
// named by 9 bytes: 'p' and a project ID, 'g' and a group ID, or 'a' and
// 0 for every token.
var (
	// bActiveTokens: list, token ID -> nothing, for the tokens not
	// revoked and not expired at the list's watermark; counted.
	bActiveTokens = []byte("active_tokens")
	// bTokenExpiries: list, expiry (Unix milliseconds, sign bit flipped
	// so that keys order as times), token ID -> nothing, for the tokens
	// not revoked that have an expiry.
	bTokenExpiries = []byte("token_expiries")
	// bTokenWatermarks: list -> the watermark (the same encoding as the
	// expiries); absent: never moved, the list then holds every token not
	// revoked.
	bTokenWatermarks = []byte("token_watermarks")
)

// activeList answers the key prefix of list l.
func activeList(l tokens.DeployTokenList) []byte {
	switch {
	case l.ProjectID != 0:
		return append([]byte{'p'}, itob(l.ProjectID)...)
	case l.GroupID != 0:
		return append([]byte{'g'}, itob(l.GroupID)...)
	}
	return append([]byte{'a'}, itob(0)...)
}

// listsOf answers the lists t is in: its owner's and every token's.
func listsOf(t *tokens.DeployToken) [][]byte {
	return [][]byte{activeList(tokens.DeployTokenList{ProjectID: t.ProjectID, GroupID: t.GroupID}), activeList(tokens.DeployTokenList{})}
}

// millis encodes Unix milliseconds so that bytes order as numbers.
func millis(ms int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ms)^(1<<63)) }

func unmillis(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// watermark answers the watermark of list, if set.
func watermark(tx *bolt.Tx, list []byte) (int64, bool) {
	v := tx.Bucket(bTokenWatermarks).Get(list)
	if len(v) != 8 {
		return 0, false
	}
	return unmillis(v), true
}

// enterActive adds t, not revoked, to its lists: its expiry, and its ID
// unless it expired at or before a list's watermark.
func enterActive(tx *bolt.Tx, t *tokens.DeployToken) error {
	if t.Revoked {
		return nil
	}
	for _, list := range listsOf(t) {
		if t.ExpiresAt != nil {
			if err := tx.Bucket(bTokenExpiries).Put(join(list, millis(t.ExpiresAt.UnixMilli()), itob(t.ID)), nil); err != nil {
				return err
			}
		}
		if w, ok := watermark(tx, list); t.ExpiresAt == nil || !ok || t.ExpiresAt.UnixMilli() > w {
			if err := putKey(tx, bActiveTokens, join(list, itob(t.ID))); err != nil {
				return err
			}
		}
	}
	return nil
}

// leaveActive takes t out of its lists, revoked or deleted.
func leaveActive(tx *bolt.Tx, t *tokens.DeployToken) error {
	for _, list := range listsOf(t) {
		if err := deleteAll(tx, bActiveTokens, join(list, itob(t.ID))); err != nil {
			return err
		}
		if t.ExpiresAt != nil {
			if err := tx.Bucket(bTokenExpiries).Delete(join(list, millis(t.ExpiresAt.UnixMilli()), itob(t.ID))); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropActiveList removes the watermark of a deleted project's or group's
// list; its tokens leave with leaveActive.
func dropActiveList(tx *bolt.Tx, l tokens.DeployTokenList) error {
	return tx.Bucket(bTokenWatermarks).Delete(activeList(l))
}

// expiringBetween calls fn with the key of each token of list whose expiry
// is after lo and at or before hi, in order, and the token's ID.
func expiringBetween(tx *bolt.Tx, list []byte, lo, hi int64, fn func(id []byte) error) error {
	if lo >= hi {
		return nil
	}
	c := tx.Bucket(bTokenExpiries).Cursor()
	for k, _ := c.Seek(join(list, millis(lo+1))); k != nil && bytes.HasPrefix(k, list) && unmillis(k[len(list):len(list)+8]) <= hi; k, _ = c.Next() {
		if err := fn(k[len(list)+8:]); err != nil {
			return err
		}
	}
	return nil
}

// staleBetween answers the range of expiries a read at now must move, and
// whether it holds any: none means the list is already right for now, and
// the watermark may stay where it is.
func staleBetween(tx *bolt.Tx, list []byte, now int64) (lo, hi int64, found bool) {
	w, ok := watermark(tx, list)
	switch {
	case !ok:
		lo, hi = math.MinInt64, now
	case now > w:
		lo, hi = w, now
	default:
		lo, hi = now, w
	}
	_ = expiringBetween(tx, list, lo, hi, func([]byte) error { found = true; return errStop })
	return lo, hi, found
}

// errStop ends a walk early.
var errStop = errors.New("stop")

// PageActiveDeployTokens answers a page of the tokens of l active at now.
// A read transaction finds whether tokens expired (or, with an earlier
// now, came back) since the watermark; only then does a write transaction
// move them and the watermark. Then the page is read as every page is.
func (s *Store) PageActiveDeployTokens(ctx context.Context, l tokens.DeployTokenList, now time.Time, p tokens.Page) ([]tokens.DeployToken, int, error) {
	const op = "list active deploy tokens"
	list, ms := activeList(l), now.UnixMilli()
	var stale bool
	if err := s.view(op, func(tx *bolt.Tx) error { _, _, stale = staleBetween(tx, list, ms); return nil }); err != nil {
		return nil, 0, err
	}
	if stale {
		err := s.update(op, func(tx *bolt.Tx) error {
			lo, hi, found := staleBetween(tx, list, ms)
			if !found {
				return nil
			}
			back := hi != ms // now is before the watermark
			err := expiringBetween(tx, list, lo, hi, func(id []byte) error {
				k := join(list, id)
				if back {
					return putKey(tx, bActiveTokens, k)
				}
				return deleteAll(tx, bActiveTokens, k)
			})
			if err != nil {
				return err
			}
			return tx.Bucket(bTokenWatermarks).Put(list, millis(ms))
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return pageRecords[tokens.DeployToken](s, op, bActiveTokens, list, bTokens, p)
}

// createActiveTokens creates the buckets of the active lists in a file
// written before they existed, filled from the deploy tokens (no
// watermark: each list's first read takes out the ones expired by then),
// in Open's transaction.
func createActiveTokens(tx *bolt.Tx) error {
	if tx.Bucket(bActiveTokens) != nil {
		return nil
	}
	for _, b := range [][]byte{bActiveTokens, bTokenExpiries, bTokenWatermarks} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return tx.Bucket(bTokens).ForEach(func(_, v []byte) error {
		var t tokens.DeployToken
		if err := decode(v, &t); err != nil {
			return fmt.Errorf("decode deploy token: %w", err)
		}
		return enterActive(tx, &t)
	})
}

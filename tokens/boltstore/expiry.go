package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// bTokensByExpiry indexes the deploy tokens that expire and are not
// revoked by expiry then ID (key: expiryKey), so the expiry scan reads a
// range of it instead of every token. The transactions that create,
// revoke and delete tokens keep it; a rotation keeps the token's expiry
// and so its key.
var bTokensByExpiry = []byte("tokens_by_expiry")

// expiryPrefix encodes at (Unix milliseconds, the sign bit flipped) so
// that byte order is time order, before 1970 too.
func expiryPrefix(at time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli())^1<<63)
}

func expiryKey(t *tokens.DeployToken) []byte {
	return append(expiryPrefix(*t.ExpiresAt), itob(t.ID)...)
}

// indexExpiry puts t in bTokensByExpiry, or removes it when it is revoked
// or never expires, after t was written.
func indexExpiry(tx *bolt.Tx, t *tokens.DeployToken) error {
	if t.ExpiresAt == nil {
		return nil
	}
	if t.Revoked {
		return unindexExpiry(tx, t)
	}
	return tx.Bucket(bTokensByExpiry).Put(expiryKey(t), nil)
}

// unindexExpiry removes t from bTokensByExpiry, when t is deleted.
func unindexExpiry(tx *bolt.Tx, t *tokens.DeployToken) error {
	if t.ExpiresAt == nil {
		return nil
	}
	return tx.Bucket(bTokensByExpiry).Delete(expiryKey(t))
}

// createExpiryIndex creates bTokensByExpiry in a file written before it
// existed, filled from every token, in Open's transaction: a file either
// has the whole index or none.
func createExpiryIndex(tx *bolt.Tx) error {
	if tx.Bucket(bTokensByExpiry) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bTokensByExpiry); err != nil {
		return err
	}
	return tx.Bucket(bTokens).ForEach(func(_, v []byte) error {
		var t tokens.DeployToken
		if err := decode(v, &t); err != nil {
			return fmt.Errorf("decode deploy token: %w", err)
		}
		return indexExpiry(tx, &t)
	})
}

// DeployTokensExpiring answers the live tokens whose expiry lies in
// [from, to]: a range of bTokensByExpiry, then their records, in one
// transaction.
func (s *Store) DeployTokensExpiring(ctx context.Context, from, to time.Time) ([]tokens.DeployToken, error) {
	var out []tokens.DeployToken
	err := s.view("deploy tokens expiring", func(tx *bolt.Tx) error {
		c := tx.Bucket(bTokensByExpiry).Cursor()
		k, _ := c.First()
		if !from.IsZero() {
			k, _ = c.Seek(expiryPrefix(from))
		}
		// Every key of an expiry up to to sorts before the prefix of the
		// next millisecond.
		end := expiryPrefix(to.Add(time.Millisecond))
		for ; k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			var t tokens.DeployToken
			if err := mustGet(tx, bTokens, btoi(k[8:]), &t, "deploy token"); err != nil {
				return err
			}
			s.ops.records.Add(1)
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// bTokensByUsername indexes deploy tokens by username: lowercase username,
// 0, token id -> nothing (usernames are ASCII letters, digits and
// ".+_-", never 0), written in the transactions that create a token and
// delete it with its project or group. Revocation leaves a token in it: a
// username never changes, and the reader decides by the clock which are
// live.
var bTokensByUsername = []byte("tokens_by_username")

// usernamePrefix answers the keys' prefix of the tokens named username.
func usernamePrefix(username string) []byte { return append(fold(username), 0) }

// usernameKey answers t's key in bTokensByUsername.
func usernameKey(t *tokens.DeployToken) []byte {
	return append(usernamePrefix(t.Username), itob(t.ID)...)
}

// indexTokenUsername adds t to bTokensByUsername.
func indexTokenUsername(tx *bolt.Tx, t *tokens.DeployToken) error {
	return tx.Bucket(bTokensByUsername).Put(usernameKey(t), nil)
}

// unindexTokenUsername takes t out of bTokensByUsername.
func unindexTokenUsername(tx *bolt.Tx, t *tokens.DeployToken) error {
	return tx.Bucket(bTokensByUsername).Delete(usernameKey(t))
}

// DeployTokensByUsername answers the deploy tokens named username: a
// cursor over their keys, then their records.
func (s *Store) DeployTokensByUsername(ctx context.Context, username string) ([]tokens.DeployToken, error) {
	var out []tokens.DeployToken
	err := s.view("deploy tokens by username", func(tx *bolt.Tx) error {
		prefix := usernamePrefix(username)
		c := tx.Bucket(bTokensByUsername).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			s.ops.keys.Add(1)
			var t tokens.DeployToken
			ok, err := get(tx, bTokens, k[len(prefix):], &t)
			if err != nil {
				return err
			}
			if ok {
				s.ops.records.Add(1)
				out = append(out, t)
			}
		}
		return nil
	})
	return out, err
}

// createTokenUsernames creates bTokensByUsername in a file written before
// it existed, filled from the deploy tokens, in Open's transaction.
func createTokenUsernames(tx *bolt.Tx) error {
	if tx.Bucket(bTokensByUsername) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bTokensByUsername); err != nil {
		return err
	}
	return tx.Bucket(bTokens).ForEach(func(_, v []byte) error {
		var t tokens.DeployToken
		if err := decode(v, &t); err != nil {
			return fmt.Errorf("decode deploy token: %w", err)
		}
		return indexTokenUsername(tx, &t)
	})
}

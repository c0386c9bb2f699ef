package boltstore

import (
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// bCounts keeps the size of every paged list, so that a page's total is one
// read: bucket name, 0, the list's leading ID (none for a whole bucket) ->
// count (8 bytes, big-endian). Writes keep it in the transaction that adds
// or removes a key of a counted bucket (put, deleteAll, putKey); a file
// written before it existed gets it filled by Open.
var bCounts = []byte("counts")

// counted maps the buckets whose lists are paged to the length of the
// leading part of a key that names its list: 8 for a pair index (one list
// per first ID), 0 for a bucket that is one list.
var counted = map[string]int{
	string(bUsers): 0, string(bBlockedUsers): 0, string(bPATs): 0, string(bUserPATs): 8,
	string(bTokens): 0, string(bGroups): 0, string(bSubgroups): 8, string(bGroupProjects): 8,
	string(bGroupMembers): 8, string(bGroupTokens): 8,
	string(bProjectIndex): 1, string(bProjectTokens): 8, string(bMembers): 8,
	string(bActiveTokens): 9,
}

// countKey answers the bCounts key of the list holding key in b.
func countKey(b, list []byte) []byte {
	k := append([]byte(nil), b...)
	return append(append(k, 0), list...)
}

// count answers the size of the list of b whose keys start with list.
func count(tx *bolt.Tx, b, list []byte) int {
	v := tx.Bucket(bCounts).Get(countKey(b, list))
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

// recount adds delta to the size of the list that key of b is in, when b
// is counted and key is about to be added (delta 1: it is absent) or
// removed (delta -1: it is present).
func recount(tx *bolt.Tx, b, key []byte, delta int) error {
	n, ok := counted[string(b)]
	if !ok || len(key) < n {
		return nil
	}
	if present := tx.Bucket(b).Get(key) != nil; present != (delta < 0) {
		return nil
	}
	ck := countKey(b, key[:n])
	if err := reblock(tx, ck, key, delta); err != nil {
		return err
	}
	c := count(tx, b, key[:n]) + delta
	if c <= 0 {
		return tx.Bucket(bCounts).Delete(ck)
	}
	return tx.Bucket(bCounts).Put(ck, binary.BigEndian.AppendUint64(nil, uint64(c)))
}

// putKey adds key, with no value, to the index b, counting it.
func putKey(tx *bolt.Tx, b, key []byte) error {
	if err := recount(tx, b, key, 1); err != nil {
		return err
	}
	return tx.Bucket(b).Put(key, nil)
}

// createCounts creates bCounts in a file written before it existed, filled
// by walking the keys of the counted buckets, in Open's transaction: a
// file either has every count or none.
func createCounts(tx *bolt.Tx) error {
	if tx.Bucket(bCounts) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bCounts); err != nil {
		return err
	}
	for name, n := range counted {
		b := []byte(name)
		if tx.Bucket(b) == nil {
			continue // created, and counted, after it (createProjectIndex)
		}
		sizes := map[string]int{}
		c := tx.Bucket(b).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) >= n {
				sizes[string(k[:n])]++
			}
		}
		for list, size := range sizes {
			if err := tx.Bucket(bCounts).Put(countKey(b, []byte(list)), binary.BigEndian.AppendUint64(nil, uint64(size))); err != nil {
				return err
			}
		}
	}
	return nil
}

// pageRecords answers the records of b whose IDs a page of the list of
// index (the keys of index starting with list, each ending in an ID)
// holds, and the list's size.
func pageRecords[D stored](s *Store, op string, index, list []byte, b []byte, p tokens.Page) ([]D, int, error) {
	var (
		out   []D
		total int
	)
	err := s.view(op, func(tx *bolt.Tx) error {
		var keys [][]byte
		var walked int
		keys, total, walked = pageKeysWalked(tx, index, list, p)
		s.ops.keys.Add(int64(walked))
		s.ops.records.Add(int64(len(keys)))
		for _, k := range keys {
			var v D
			if ok, err := get(tx, b, k[len(k)-8:], &v); err != nil {
				return err
			} else if ok {
				out = append(out, v)
			}
		}
		return nil
	})
	return out, total, err
}

// PageSubgroups answers a page of the subgroups of parentID.
func (s *Store) PageSubgroups(ctx context.Context, parentID int64, p tokens.Page) ([]tokens.Group, int, error) {
	return pageRecords[tokens.Group](s, "list subgroups", bSubgroups, itob(parentID), bGroups, p)
}

// PageGroupProjects answers a page of the projects of groupID.
func (s *Store) PageGroupProjects(ctx context.Context, groupID int64, p tokens.Page) ([]tokens.Project, int, error) {
	return pageRecords[tokens.Project](s, "list group projects", bGroupProjects, itob(groupID), bProjects, p)
}

// PageGroupDeployTokens answers a page of the deploy tokens of groupID.
func (s *Store) PageGroupDeployTokens(ctx context.Context, groupID int64, p tokens.Page) ([]tokens.DeployToken, int, error) {
	return pageRecords[tokens.DeployToken](s, "list group deploy tokens", bGroupTokens, itob(groupID), bTokens, p)
}

// PageAllDeployTokens answers a page of every deploy token.
func (s *Store) PageAllDeployTokens(ctx context.Context, p tokens.Page) ([]tokens.DeployToken, int, error) {
	return pageRecords[tokens.DeployToken](s, "list all deploy tokens", bTokens, nil, bTokens, p)
}

// PageGroupMembers answers a page of the members of groupID.
func (s *Store) PageGroupMembers(ctx context.Context, groupID int64, p tokens.Page) ([]tokens.GroupMember, int, error) {
	var (
		out   []tokens.GroupMember
		total int
	)
	err := s.view("list group members", func(tx *bolt.Tx) error {
		var keys [][]byte
		keys, total = pageKeys(tx, bGroupMembers, itob(groupID), p)
		for _, k := range keys {
			var m tokens.GroupMember
			if _, err := get(tx, bGroupMembers, k, &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, total, err
}

// CountGroups answers the number of groups.
func (s *Store) CountGroups(ctx context.Context) (int, error) {
	var n int
	err := s.view("count groups", func(tx *bolt.Tx) error {
		n = count(tx, bGroups, nil)
		return nil
	})
	return n, err
}

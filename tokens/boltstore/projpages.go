package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// bProjectIndex keeps the project lists of tokens.ProjectIndex: index (one
// byte), project id -> nothing, counted per index, written in the
// transactions that write projects. A project's deploy tokens page through
// bProjectTokens and its members through bMembers, counted per project.
var bProjectIndex = []byte("project_index")

// indexKey answers the bProjectIndex key of project id in index i.
func indexKey(i tokens.ProjectIndex, id int64) []byte {
	return append([]byte{byte(i)}, itob(id)...)
}

// indexProject puts project p in the indexes its visibility selects and
// takes it out of the others.
func indexProject(tx *bolt.Tx, p *tokens.Project) error {
	for _, i := range []tokens.ProjectIndex{tokens.AllProjects, tokens.InternalProjects, tokens.PublicProjects} {
		k := indexKey(i, p.ID)
		if i.Holds(p.Visibility) {
			if tx.Bucket(bProjectIndex).Get(k) == nil {
				if err := putKey(tx, bProjectIndex, k); err != nil {
					return err
				}
			}
		} else if err := deleteAll(tx, bProjectIndex, k); err != nil {
			return err
		}
	}
	return nil
}

// unindexProject takes project id out of every index.
func unindexProject(tx *bolt.Tx, id int64) error {
	for _, i := range []tokens.ProjectIndex{tokens.AllProjects, tokens.InternalProjects, tokens.PublicProjects} {
		if err := deleteAll(tx, bProjectIndex, indexKey(i, id)); err != nil {
			return err
		}
	}
	return nil
}

// createProjectIndex creates bProjectIndex in a file written before it
// existed, filled from the projects, and counts the deploy tokens and the
// members of every project (absolute counts, so that running after createCounts, which may
// have counted them already, counts nothing twice), in Open's transaction.
func createProjectIndex(tx *bolt.Tx) error {
	if tx.Bucket(bProjectIndex) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bProjectIndex); err != nil {
		return err
	}
	err := tx.Bucket(bProjects).ForEach(func(_, v []byte) error {
		var p tokens.Project
		if err := decode(v, &p); err != nil {
			return fmt.Errorf("decode project: %w", err)
		}
		return indexProject(tx, &p)
	})
	if err != nil {
		return err
	}
	for _, b := range [][]byte{bProjectTokens, bMembers} {
		sizes := map[int64]uint64{}
		c := tx.Bucket(b).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			sizes[btoi(k[:8])]++
		}
		for pid, n := range sizes {
			if err := tx.Bucket(bCounts).Put(countKey(b, itob(pid)), binary.BigEndian.AppendUint64(nil, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// opCounts counts the work of reads for tests of what a page costs: read
// transactions, records read, and index keys a cursor stepped over; and,
// for tests that a miss costs what a hit does, the records the fused auth
// reads decoded (the decoy's included).
type opCounts struct {
	txs, records, keys atomic.Int64
	authRecords        atomic.Int64
}

// PageProjects answers a page of the projects of index (reaching its
// offset as pageKeys does).
func (s *Store) PageProjects(ctx context.Context, index tokens.ProjectIndex, p tokens.Page) ([]tokens.Project, int, error) {
	return pageRecords[tokens.Project](s, "list projects", bProjectIndex, []byte{byte(index)}, bProjects, p)
}

// ProjectsAfter answers at most limit projects of index after the ID
// after: a cursor Seek and limit steps, whatever the page.
func (s *Store) ProjectsAfter(ctx context.Context, index tokens.ProjectIndex, after int64, limit int, desc bool) ([]tokens.Project, error) {
	var out []tokens.Project
	if limit < 1 {
		return nil, nil
	}
	err := s.view("list projects", func(tx *bolt.Tx) error {
		prefix := []byte{byte(index)}
		c := tx.Bucket(bProjectIndex).Cursor()
		var k []byte
		switch {
		case !desc:
			k, _ = c.Seek(indexKey(index, after+1))
		case after > 0:
			// Seek lands on the first key at or after after: the one
			// before it is the first page's first.
			if k, _ = c.Seek(indexKey(index, after)); k == nil {
				k, _ = c.Last()
			}
			if k != nil && bytes.Compare(k, indexKey(index, after)) >= 0 {
				k, _ = c.Prev()
			}
		default:
			if k, _ = c.Seek([]byte{byte(index) + 1}); k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; s.ops.keys.Add(1) {
			s.ops.records.Add(1)
			var p tokens.Project
			if ok, err := get(tx, bProjects, k[1:], &p); err != nil {
				return err
			} else if ok {
				out = append(out, p)
			}
			if desc {
				k, _ = c.Prev()
			} else {
				k, _ = c.Next()
			}
		}
		return nil
	})
	return out, err
}

// ProjectsByID answers the projects of ids that exist, read in one
// transaction.
func (s *Store) ProjectsByID(ctx context.Context, ids []int64) ([]tokens.Project, error) {
	out := make([]tokens.Project, 0, len(ids))
	err := s.view("read projects", func(tx *bolt.Tx) error {
		for _, id := range ids {
			var p tokens.Project
			s.ops.records.Add(1)
			if ok, err := get(tx, bProjects, itob(id), &p); err != nil {
				return err
			} else if ok {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// CountProjectsBefore answers, for each of ids, the projects of index with
// a smaller ID: the block counts before each, then the keys of its block.
func (s *Store) CountProjectsBefore(ctx context.Context, index tokens.ProjectIndex, ids []int64) ([]int, error) {
	out := make([]int, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	err := s.view("count projects", func(tx *bolt.Tx) error {
		for i, id := range ids {
			n, read := countBefore(tx, bProjectIndex, []byte{byte(index)}, id)
			s.ops.keys.Add(int64(read))
			out[i] = n
		}
		return nil
	})
	return out, err
}

// ProjectsUnder answers at most limit projects whose lowercase path starts
// with prefix and "/": a Seek in the path index.
func (s *Store) ProjectsUnder(ctx context.Context, prefix string, limit int) ([]tokens.Project, error) {
	var out []tokens.Project
	err := s.view("list projects under a path", func(tx *bolt.Tx) error {
		under := append(fold(prefix), '/')
		c := tx.Bucket(bProjectsByPath).Cursor()
		for k, v := c.Seek(under); k != nil && bytes.HasPrefix(k, under) && len(out) < limit; k, v = c.Next() {
			s.ops.keys.Add(1)
			s.ops.records.Add(1)
			var p tokens.Project
			if ok, err := get(tx, bProjects, v, &p); err != nil {
				return err
			} else if ok {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// PageDeployTokens answers a page of the deploy tokens of projectID.
func (s *Store) PageDeployTokens(ctx context.Context, projectID int64, p tokens.Page) ([]tokens.DeployToken, int, error) {
	return pageRecords[tokens.DeployToken](s, "list deploy tokens", bProjectTokens, itob(projectID), bTokens, p)
}

// PageMembers answers a page of the members of projectID.
func (s *Store) PageMembers(ctx context.Context, projectID int64, p tokens.Page) ([]tokens.Member, int, error) {
	var (
		out   []tokens.Member
		total int
	)
	err := s.view("list members", func(tx *bolt.Tx) error {
		var keys [][]byte
		keys, total = pageKeys(tx, bMembers, itob(projectID), p)
		for _, k := range keys {
			var m tokens.Member
			if _, err := get(tx, bMembers, k, &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, total, err
}

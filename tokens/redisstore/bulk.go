package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// bulkBatch is how many records one pipeline of a bulk load carries: large
// enough that a million records take seconds, small enough that one reply
// stays a few hundred kilobytes.
var bulkBatch = 2000

// BulkCreateProjects stores ps as CreateProject does, each with owner as its
// owner member, assigning their IDs in order. Records travel in pipelines of
// the same scripts CreateProject runs, so the keys and their checks (path
// taken, owner missing) are the same; only the round trips are shared. It is
// for loading many records at once (benchmarks, imports): a failed record
// does not undo the others, and the error names the first one that failed
// (the batches after its own are not sent). On return ps[i].ID is set for
// every stored project.
func (s *Store) BulkCreateProjects(ctx context.Context, ps []tokens.Project, owner tokens.Member) error {
	const op = "bulk create projects"
	mv, err := encodeMember(&owner)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := createProjectScript.Load(ctx, s.c).Err(); err != nil {
		return wrap(op, err)
	}
	for start := 0; start < len(ps); start += bulkBatch {
		chunk := ps[start:min(start+bulkBatch, len(ps))]
		fs := make([]fields, len(chunk))
		for i := range chunk {
			if fs[i], err = encodeProject(&chunk[i]); err != nil {
				return fmt.Errorf("%s: project %d: %w", op, start+i, err)
			}
		}
		first, err := s.reserveIDs(ctx, "project", len(chunk))
		if err != nil {
			return wrap(op, err)
		}
		pipe := s.c.Pipeline()
		cmds := make([]*redis.Cmd, len(chunk))
		for i := range chunk {
			keys, args := s.createProjectArgs(chunk[i].PathWithNamespace, first+int64(i), owner.UserID, mv, fs[i])
			cmds[i] = createProjectScript.EvalSha(ctx, pipe, keys, args...)
		}
		if err := execBulk(ctx, pipe); err != nil {
			return wrap(op, err)
		}
		var failed error
		for i, cmd := range cmds {
			n, err := cmd.Int64()
			if err := status(fmt.Sprintf("%s: project %d (%s)", op, start+i, chunk[i].PathWithNamespace), n, err); err != nil {
				failed = cmp.Or(failed, err)
				continue
			}
			chunk[i].ID = first + int64(i)
		}
		if failed != nil {
			return failed
		}
	}
	return nil
}

// BulkCreateDeployTokens stores ts as CreateDeployToken does: each gets its
// ID (in order), its default username when it has none, and its digest
// index, through the same script in pipelines. It is for loading many
// tokens at once (benchmarks, imports): a failed token (project missing,
// digest taken) does not undo the others, and the error names the first
// one that failed (the batches after its own are not sent). On return ts[i]
// holds the stored record for every stored token.
func (s *Store) BulkCreateDeployTokens(ctx context.Context, ts []tokens.DeployToken) error {
	const op = "bulk create deploy tokens"
	for i := range ts {
		if len(ts[i].Digest) == 0 {
			return fmt.Errorf("%s: token %d: empty digest", op, i)
		}
	}
	if err := createTokenScript.Load(ctx, s.c).Err(); err != nil {
		return wrap(op, err)
	}
	for start := 0; start < len(ts); start += bulkBatch {
		chunk := ts[start:min(start+bulkBatch, len(ts))]
		first, err := s.reserveIDs(ctx, "token", len(chunk))
		if err != nil {
			return wrap(op, err)
		}
		recs := slices.Clone(chunk)
		pipe := s.c.Pipeline()
		cmds := make([]*redis.Cmd, len(chunk))
		for i := range recs {
			rec := &recs[i]
			rec.ID = first + int64(i)
			if rec.Username == "" {
				rec.Username = tokens.DefaultDeployTokenUsername(rec.ID)
			}
			f, err := encodeDeployToken(rec)
			if err != nil {
				// The IDs reserved for the rest of the chunk stay
				// unused, as a failed CreateDeployToken leaves its ID.
				return fmt.Errorf("%s: token %d: %w", op, start+i, err)
			}
			keys, args := s.createDeployTokenArgs(rec, f)
			cmds[i] = createTokenScript.EvalSha(ctx, pipe, keys, args...)
		}
		if err := execBulk(ctx, pipe); err != nil {
			return wrap(op, err)
		}
		var failed error
		for i, cmd := range cmds {
			n, err := cmd.Int64()
			if err := status(fmt.Sprintf("%s: token %d", op, start+i), n, err); err != nil {
				failed = cmp.Or(failed, err)
				continue
			}
			chunk[i] = recs[i]
		}
		if failed != nil {
			return failed
		}
	}
	return nil
}

// reserveIDs takes n consecutive IDs of kind from its counter in one
// command, the IDs n calls of nextID would have answered; it answers the
// first.
func (s *Store) reserveIDs(ctx context.Context, kind string, n int) (int64, error) {
	last, err := s.c.IncrBy(ctx, s.key("n", kind), int64(n)).Result()
	return last - int64(n) + 1, err
}

// execBulk sends a pipeline of scripts. Their status replies are read one
// by one afterwards; a failed script is reported there, so only an error
// of the connection itself fails the whole batch here.
func execBulk(ctx context.Context, pipe redis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	if err == nil || len(cmds) == 0 {
		return err
	}
	for _, c := range cmds {
		if cerr := c.Err(); cerr != nil && !errors.Is(cerr, redis.Nil) && !isReplyError(cerr) {
			return cerr
		}
	}
	return nil
}

// isReplyError reports whether err is an error reply of the server (a
// script that failed, NOSCRIPT) rather than a failure to talk to it.
func isReplyError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !unavailable(err)
}

// DeployTokenMemory answers the bytes of Redis memory the stored token t
// takes: MEMORY USAGE of its record and of its digest index, plus its share
// of its project's set of tokens. Benchmarks sample it to check what a
// million tokens cost.
func (s *Store) DeployTokenMemory(ctx context.Context, t tokens.DeployToken) (int64, error) {
	pipe := s.c.Pipeline()
	rec := pipe.MemoryUsage(ctx, s.idKey("d", t.ID), 0)
	idx := pipe.MemoryUsage(ctx, s.key("dh", string(t.Digest)), 0)
	set := pipe.MemoryUsage(ctx, s.idKey("pd", t.ProjectID), 0)
	members := pipe.SCard(ctx, s.idKey("pd", t.ProjectID))
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, wrap("deploy token memory", err)
	}
	return rec.Val() + idx.Val() + set.Val()/max(members.Val(), 1), nil
}

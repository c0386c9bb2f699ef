package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// Projects page through the sorted sets pa:all, pa:internal and pa:public
// (scores: the IDs; see tokens.ProjectIndex), a project's deploy tokens
// through pdz:ID and its members through pmz:ID (user IDs), written by the scripts and transactions that write the
// records. ZRANGE by rank and by score cost O(log N + page), so a deep
// page costs what the first does.

// projectIndex answers the key of the sorted set of index i.
func (s *Store) projectIndex(i tokens.ProjectIndex) string {
	switch i {
	case tokens.InternalProjects:
		return s.key("pa", "internal")
	case tokens.PublicProjects:
		return s.key("pa", "public")
	}
	return s.key("pa", "all")
}

// fillProjectPages adds the projects, project deploy tokens and project
// members written before pa:*, pdz and pmz existed, once per database (pa:filled marks it
// done), reading them in pipelined batches. As the other fills, an older
// replica still writing afterwards leaves its writes out of these lists:
// upgrade every replica.
func (s *Store) fillProjectPages(ctx context.Context) error {
	const op = "fill the project indexes"
	marker := s.key("pa", "filled")
	if done, err := s.filled(ctx, op, marker); done || err != nil {
		return err
	}
	ids, err := s.members(ctx, s.key("ps"))
	if err != nil {
		return wrap(op, err)
	}
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		pipe := s.c.Pipeline()
		vis := make([]*redis.StringCmd, len(chunk))
		toks := make([]*redis.StringSliceCmd, len(chunk))
		members := make([]*redis.StringSliceCmd, len(chunk))
		for i, id := range chunk {
			vis[i] = pipe.HGet(ctx, s.idKey("p", id), fVisibility)
			toks[i] = pipe.SMembers(ctx, s.idKey("pd", id))
			members[i] = pipe.HKeys(ctx, s.idKey("pm", id))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return wrap(op, err)
		}
		fill := s.c.Pipeline()
		for i, id := range chunk {
			v, err := vis[i].Result()
			if errors.Is(err, redis.Nil) {
				continue // gone
			}
			z := redis.Z{Score: float64(id), Member: id}
			for _, ix := range tokens.ProjectIndexesOf(tokens.Visibility(v)) {
				fill.ZAdd(ctx, s.projectIndex(ix), z)
			}
			for _, tid := range toks[i].Val() {
				n, err := strconv.ParseInt(tid, 10, 64)
				if err != nil {
					return fmt.Errorf("%s: tokens of project %d: %w", op, id, err)
				}
				fill.ZAdd(ctx, s.idKey("pdz", id), redis.Z{Score: float64(n), Member: n})
			}
			for _, uid := range members[i].Val() {
				n, err := strconv.ParseInt(uid, 10, 64)
				if err != nil {
					return fmt.Errorf("%s: members of project %d: %w", op, id, err)
				}
				fill.ZAdd(ctx, s.idKey("pmz", id), redis.Z{Score: float64(n), Member: n})
			}
		}
		if _, err := fill.Exec(ctx); err != nil {
			return wrap(op, err)
		}
	}
	return wrap(op, s.c.Set(ctx, marker, 1, 0).Err())
}

// PageProjects answers a page of the projects of index.
func (s *Store) PageProjects(ctx context.Context, index tokens.ProjectIndex, p tokens.Page) ([]tokens.Project, int, error) {
	return pageRecords(ctx, s, "list projects", s.projectIndex(index), "p", p, decodeProject)
}

// ProjectsAfter answers at most limit projects of index after the ID
// after: a ZRANGE by score with a LIMIT, then the records in one pipeline.
func (s *Store) ProjectsAfter(ctx context.Context, index tokens.ProjectIndex, after int64, limit int, desc bool) ([]tokens.Project, error) {
	const op = "list projects"
	if limit < 1 {
		return nil, nil
	}
	by := &redis.ZRangeBy{Min: "(" + strconv.FormatInt(after, 10), Max: "+inf", Count: int64(limit)}
	var cmd *redis.StringSliceCmd
	key := s.projectIndex(index)
	if desc {
		by.Min, by.Max = "-inf", "+inf"
		if after > 0 {
			by.Max = "(" + strconv.FormatInt(after, 10)
		}
		cmd = s.c.ZRevRangeByScore(ctx, key, by)
	} else {
		cmd = s.c.ZRangeByScore(ctx, key, by)
	}
	v, err := cmd.Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	ids, err := parseIDs(key, v)
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]tokens.Project, 0, len(ids))
	err = s.hgetall(ctx, "p", ids, func(id int64, m map[string]string) error {
		p, err := decodeProject(id, m)
		out = append(out, p)
		return err
	})
	return out, wrap(op, err)
}

// ProjectsByID answers the projects of ids that exist, read in one
// pipeline.
func (s *Store) ProjectsByID(ctx context.Context, ids []int64) ([]tokens.Project, error) {
	out := make([]tokens.Project, 0, len(ids))
	err := s.hgetall(ctx, "p", ids, func(id int64, m map[string]string) error {
		p, err := decodeProject(id, m)
		out = append(out, p)
		return err
	})
	return out, wrap("read projects", err)
}

// CountProjectsBefore answers, for each of ids, the projects of index with
// a smaller ID: one ZCOUNT each, in one pipeline.
func (s *Store) CountProjectsBefore(ctx context.Context, index tokens.ProjectIndex, ids []int64) ([]int, error) {
	const op = "count projects"
	if len(ids) == 0 {
		return nil, nil
	}
	key := s.projectIndex(index)
	pipe := s.c.Pipeline()
	cmds := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.ZCount(ctx, key, "-inf", "("+strconv.FormatInt(id, 10))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap(op, err)
	}
	out := make([]int, len(ids))
	for i, c := range cmds {
		out[i] = int(c.Val())
	}
	return out, nil
}

// ProjectsUnder answers at most limit projects whose lowercase path starts
// with prefix and "/": a ZRANGEBYLEX on the sorted set of paths (pz), each
// path then resolved through its index; a path whose project is gone (see
// createProjectScript) is passed over.
func (s *Store) ProjectsUnder(ctx context.Context, prefix string, limit int) ([]tokens.Project, error) {
	const op = "list projects under a path"
	lower := fold(prefix)
	var out []tokens.Project
	for offset := int64(0); len(out) < limit; offset += int64(limit) {
		paths, err := s.c.ZRangeByLex(ctx, s.key("pz"), &redis.ZRangeBy{Min: "[" + lower + "/", Max: "(" + lower + "0", Offset: offset, Count: int64(limit)}).Result()
		if err != nil {
			return nil, wrap(op, err)
		}
		for _, path := range paths {
			p, err := s.ProjectByPath(ctx, path)
			if errors.Is(err, tokens.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if out = append(out, p); len(out) == limit {
				break
			}
		}
		if len(paths) < limit {
			break
		}
	}
	return out, nil
}

// PageDeployTokens answers a page of the deploy tokens of projectID.
func (s *Store) PageDeployTokens(ctx context.Context, projectID int64, p tokens.Page) ([]tokens.DeployToken, int, error) {
	return pageRecords(ctx, s, "list deploy tokens", s.idKey("pdz", projectID), "d", p, decodeDeployToken)
}

// PageMembers answers a page of the members of projectID: the user IDs of
// the page from pmz, their values from pm.
func (s *Store) PageMembers(ctx context.Context, projectID int64, p tokens.Page) ([]tokens.Member, int, error) {
	return pageHashValues(ctx, s, "list members", s.idKey("pmz", projectID), s.idKey("pm", projectID), p,
		func(id int64, v string) (tokens.Member, error) { return decodeMember(projectID, id, v) })
}

// pageHashValues answers a page of the values of hash hkey, whose fields
// are IDs, in the order of the index zkey: the IDs of the page, then
// their values in one HMGET. A value removed since the page was read is
// left out.
func pageHashValues[T any](ctx context.Context, s *Store, op, zkey, hkey string, p tokens.Page, decode func(id int64, v string) (T, error)) ([]T, int, error) {
	ids, total, err := s.page(ctx, zkey, p)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	if len(ids) == 0 {
		return nil, total, nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = strconv.FormatInt(id, 10)
	}
	v, err := s.c.HMGet(ctx, hkey, fields...).Result()
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	out := make([]T, 0, len(ids))
	for i, val := range v {
		str, ok := val.(string)
		if !ok {
			continue // removed since the page was read
		}
		m, err := decode(ids[i], str)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, m)
	}
	return out, total, nil
}

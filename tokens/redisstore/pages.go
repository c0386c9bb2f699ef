package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// The lists of groups and deploy tokens page through sorted sets whose
// scores are the IDs, written by the scripts that write the records: gg
// (subgroups) and gr (a group's projects) have always been, gmz (a
// group's members), gdz (a group's deploy tokens) and dz (every deploy
// token) are filled once for data written before them.

// fillPageIndexes adds the deploy tokens and group members written before
// dz, gdz and gmz existed, once per database (dz:filled marks it done). As
// fillAdminIndexes, it reads IDs 1 up to the counters in pipelined batches
// rather than scanning the keyspace, and an older replica still writing
// afterwards leaves its writes out of these lists: upgrade every replica.
func (s *Store) fillPageIndexes(ctx context.Context) error {
	const op = "fill the list indexes"
	if err := s.fillProjectPages(ctx); err != nil {
		return err
	}
	marker := s.key("dz", "filled")
	if done, err := s.filled(ctx, op, marker); done || err != nil {
		return err
	}
	toks, err := s.lastID(ctx, "token")
	if err != nil {
		return wrap(op, err)
	}
	for from := int64(1); from <= toks; from += batch {
		pipe := s.c.Pipeline()
		cmds := map[int64]*redis.SliceCmd{}
		for id := from; id < from+batch && id <= toks; id++ {
			cmds[id] = pipe.HMGet(ctx, s.idKey("d", id), fDigest, fGroup)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return wrap(op, err)
		}
		fill := s.c.Pipeline()
		for id, cmd := range cmds {
			v := cmd.Val()
			if len(v) != 2 || v[0] == nil {
				continue // gone
			}
			z := redis.Z{Score: float64(id), Member: id}
			fill.ZAdd(ctx, s.key("dz"), z)
			if gid, ok := v[1].(string); ok && gid != "" {
				fill.ZAdd(ctx, s.key("gdz", gid), z)
			}
		}
		if _, err := fill.Exec(ctx); err != nil {
			return wrap(op, err)
		}
	}
	groups, err := s.zmembers(ctx, s.key("gs"))
	if err != nil {
		return wrap(op, err)
	}
	for start := 0; start < len(groups); start += batch {
		chunk := groups[start:min(start+batch, len(groups))]
		pipe := s.c.Pipeline()
		cmds := make([]*redis.StringSliceCmd, len(chunk))
		for i, gid := range chunk {
			cmds[i] = pipe.HKeys(ctx, s.idKey("gm", gid))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return wrap(op, err)
		}
		fill := s.c.Pipeline()
		for i, cmd := range cmds {
			for _, uid := range cmd.Val() {
				n, err := strconv.ParseInt(uid, 10, 64)
				if err != nil {
					return fmt.Errorf("%s: members of group %d: %w", op, chunk[i], err)
				}
				fill.ZAdd(ctx, s.idKey("gmz", chunk[i]), redis.Z{Score: float64(n), Member: n})
			}
		}
		if _, err := fill.Exec(ctx); err != nil {
			return wrap(op, err)
		}
	}
	return wrap(op, s.c.Set(ctx, marker, 1, 0).Err())
}

// pageRecords answers the records kind:ID of a page of the sorted set at
// key, and the set's size.
func pageRecords[T any](ctx context.Context, s *Store, op, key, kind string, p tokens.Page, decode func(int64, map[string]string) (T, error)) ([]T, int, error) {
	ids, total, err := s.page(ctx, key, p)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	out := make([]T, 0, len(ids))
	err = s.hgetall(ctx, kind, ids, func(id int64, m map[string]string) error {
		v, err := decode(id, m)
		out = append(out, v)
		return err
	})
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, total, nil
}

// PageSubgroups answers a page of the subgroups of parentID.
func (s *Store) PageSubgroups(ctx context.Context, parentID int64, p tokens.Page) ([]tokens.Group, int, error) {
	return pageRecords(ctx, s, "list subgroups", s.idKey("gg", parentID), "g", p, decodeGroup)
}

// PageGroupProjects answers a page of the projects of groupID.
func (s *Store) PageGroupProjects(ctx context.Context, groupID int64, p tokens.Page) ([]tokens.Project, int, error) {
	return pageRecords(ctx, s, "list group projects", s.idKey("gr", groupID), "p", p, decodeProject)
}

// PageGroupDeployTokens answers a page of the deploy tokens of groupID.
func (s *Store) PageGroupDeployTokens(ctx context.Context, groupID int64, p tokens.Page) ([]tokens.DeployToken, int, error) {
	return pageRecords(ctx, s, "list group deploy tokens", s.idKey("gdz", groupID), "d", p, decodeDeployToken)
}

// PageAllDeployTokens answers a page of every deploy token.
func (s *Store) PageAllDeployTokens(ctx context.Context, p tokens.Page) ([]tokens.DeployToken, int, error) {
	return pageRecords(ctx, s, "list all deploy tokens", s.key("dz"), "d", p, decodeDeployToken)
}

// PageGroupMembers answers a page of the members of groupID: the user IDs
// of the page from gmz, their values from gm.
func (s *Store) PageGroupMembers(ctx context.Context, groupID int64, p tokens.Page) ([]tokens.GroupMember, int, error) {
	return pageHashValues(ctx, s, "list group members", s.idKey("gmz", groupID), s.idKey("gm", groupID), p,
		func(id int64, v string) (tokens.GroupMember, error) { return decodeGroupMember(groupID, id, v) })
}

// CountGroups answers the number of groups.
func (s *Store) CountGroups(ctx context.Context) (int, error) {
	n, err := s.c.ZCard(ctx, s.key("gs")).Result()
	return int(n), wrap("count groups", err)
}

package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// The administration lists page through sorted sets whose scores are the
// IDs, so a page is ZRANGE by rank and the total ZCARD, whatever the
// number of records: uz holds every user, ub the blocked ones, tz every
// personal access token and ut:<user ID> one user's.

// patKeys answers createPATScript's keys for t with ID id.
func (s *Store) patKeys(t *tokens.PersonalAccessToken, id int64) []string {
	return []string{s.idKey("u", t.UserID), s.key("th", string(t.Digest)), s.idKey("t", id), s.key("tz"), s.idKey("ut", t.UserID)}
}

// createPATScript writes the token KEYS[3] from ARGV[2..] with its digest
// index KEYS[2] when its user KEYS[1] exists, and adds its ID ARGV[1] to
// the sorted sets of all tokens KEYS[4] and of its user's KEYS[5].
var createPATScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[3], unpack(ARGV, 2))
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[1])
return 1
`)

// fillAdminIndexes adds the users and tokens created before their sorted
// sets existed, once per database (uz:filled marks it done). IDs come from
// a counter and are never reused, so it reads IDs 1 up to the counters in
// pipelined batches rather than scanning the keyspace. A replica of an
// older version that creates users or tokens after this has run leaves
// them out of the lists: upgrade every replica before administering.
func (s *Store) fillAdminIndexes(ctx context.Context) error {
	const op = "fill the administration indexes"
	marker := s.key("uz", "filled")
	if done, err := s.filled(ctx, op, marker); done || err != nil {
		return err
	}
	users, err := s.lastID(ctx, "user")
	if err != nil {
		return wrap(op, err)
	}
	pats, err := s.lastID(ctx, "pat")
	if err != nil {
		return wrap(op, err)
	}
	for from := int64(1); from <= users; from += batch {
		pipe := s.c.Pipeline()
		cmds := map[int64]*redis.SliceCmd{}
		for id := from; id < from+batch && id <= users; id++ {
			cmds[id] = pipe.HMGet(ctx, s.idKey("u", id), fUsername, fBlocked)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return wrap(op, err)
		}
		fill := s.c.Pipeline()
		for id, cmd := range cmds {
			if v := cmd.Val(); len(v) == 2 && v[0] != nil {
				fill.ZAdd(ctx, s.key("uz"), redis.Z{Score: float64(id), Member: id})
				if v[1] == "1" {
					fill.ZAdd(ctx, s.key("ub"), redis.Z{Score: float64(id), Member: id})
				}
			}
		}
		if _, err := fill.Exec(ctx); err != nil {
			return wrap(op, err)
		}
	}
	for from := int64(1); from <= pats; from += batch {
		pipe := s.c.Pipeline()
		cmds := map[int64]*redis.StringCmd{}
		for id := from; id < from+batch && id <= pats; id++ {
			cmds[id] = pipe.HGet(ctx, s.idKey("t", id), fUser)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return wrap(op, err)
		}
		fill := s.c.Pipeline()
		for id, cmd := range cmds {
			uid, err := cmd.Result()
			if err != nil {
				continue // gone
			}
			z := redis.Z{Score: float64(id), Member: id}
			fill.ZAdd(ctx, s.key("tz"), z)
			fill.ZAdd(ctx, s.key("ut", uid), z)
		}
		if _, err := fill.Exec(ctx); err != nil {
			return wrap(op, err)
		}
	}
	return wrap(op, s.c.Set(ctx, marker, 1, 0).Err())
}

// page answers the IDs of rank q.Offset to q.Offset+q.Limit-1 in the sorted
// set at key, and its size, read together.
func (s *Store) page(ctx context.Context, key string, q tokens.Page) ([]int64, int, error) {
	var (
		card *redis.IntCmd
		rng  *redis.StringSliceCmd
	)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		card = p.ZCard(ctx, key)
		if q.Limit > 0 {
			rng = p.ZRange(ctx, key, int64(q.Offset), int64(q.Offset+q.Limit-1))
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if rng == nil {
		return nil, int(card.Val()), nil
	}
	ids, err := parseIDs(key, rng.Val())
	return ids, int(card.Val()), err
}

func parseIDs(key string, v []string) ([]int64, error) {
	ids := make([]int64, len(v))
	for i, str := range v {
		var err error
		if ids[i], err = strconv.ParseInt(str, 10, 64); err != nil {
			return nil, fmt.Errorf("sorted set %q: %w", key, err)
		}
	}
	return ids, nil
}

func (s *Store) users(ctx context.Context, ids []int64) ([]tokens.User, error) {
	out := make([]tokens.User, 0, len(ids))
	err := s.hgetall(ctx, "u", ids, func(id int64, m map[string]string) error {
		u, err := decodeUser(id, m)
		out = append(out, u)
		return err
	})
	return out, err
}

// ListUsers answers a page of the users q selects and their number. A
// username is looked up in its index and a plain or blocked list is a page
// of a sorted set; a search reads the users (or the blocked users) in
// batches, as no index serves a substring.
func (s *Store) ListUsers(ctx context.Context, q tokens.UserQuery) ([]tokens.User, int, error) {
	const op = "list users"
	set := s.key("uz")
	if q.Blocked {
		set = s.key("ub")
	}
	switch {
	case q.Username != "":
		u, err := s.UserByUsername(ctx, q.Username)
		if errors.Is(err, tokens.ErrNotFound) || (err == nil && !q.Matches(u)) {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		return tokens.PageOf([]tokens.User{u}, q.Page), 1, nil
	case q.Search != "":
		var (
			out   []tokens.User
			total int
		)
		for start := int64(0); ; start += batch {
			v, err := s.c.ZRange(ctx, set, start, start+batch-1).Result()
			if err != nil {
				return nil, 0, wrap(op, err)
			}
			ids, err := parseIDs(set, v)
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", op, err)
			}
			us, err := s.users(ctx, ids)
			if err != nil {
				return nil, 0, wrap(op, err)
			}
			for _, u := range us {
				if !q.Matches(u) {
					continue
				}
				if total >= q.Offset && total < q.Offset+q.Limit {
					out = append(out, u)
				}
				total++
			}
			if len(v) < batch {
				return out, total, nil
			}
		}
	}
	ids, total, err := s.page(ctx, set, q.Page)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	out, err := s.users(ctx, ids)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, total, nil
}

// setBlockedScript: KEYS = user, blocked users; ARGV = user ID, "1" to
// block or "0" to unblock, the blocked field.
var setBlockedScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], ARGV[3], '1')
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
else
  redis.call('HDEL', KEYS[1], ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
`)

// SetUserBlocked blocks or unblocks a user. PATs are not cached, so the
// next request of a blocked user, on any replica, is refused.
func (s *Store) SetUserBlocked(ctx context.Context, id int64, blocked bool) (err error) {
	defer s.ackReplicated(ctx, &err)
	v := "0"
	if blocked {
		v = "1"
	}
	n, err := runStatus(ctx, s.c, setBlockedScript, []string{s.idKey("u", id), s.key("ub")}, id, v, fBlocked)
	return status("set user blocked", n, err)
}

// deleteUserScript: KEYS = user, username index, memberships, user's
// tokens, users, blocked users, tokens, user's groups; ARGV = user ID,
// owner prefix, and the templates of project members, tokens and digest
// indexes, the digest field, the templates of group members and of their
// sorted sets of member IDs, the template of the sorted sets of project
// member IDs. -2: the user
// is a project's or a group's only owner; nothing is changed then.
var deleteUserScript = redis.NewScript(lastOwnerLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local pids = redis.call('SMEMBERS', KEYS[3])
for _, pid in ipairs(pids) do
  if lastOwner(ARGV[3] .. pid, ARGV[1], ARGV[2]) then return -2 end
end
local gids = redis.call('SMEMBERS', KEYS[8])
for _, gid in ipairs(gids) do
  if lastOwner(ARGV[7] .. gid, ARGV[1], ARGV[2]) then return -2 end
end
for _, pid in ipairs(pids) do
  redis.call('HDEL', ARGV[3] .. pid, ARGV[1])
  redis.call('ZREM', ARGV[9] .. pid, ARGV[1])
end
for _, gid in ipairs(gids) do
  redis.call('HDEL', ARGV[7] .. gid, ARGV[1])
  redis.call('ZREM', ARGV[8] .. gid, ARGV[1])
end
for _, tid in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local d = redis.call('HGET', ARGV[4] .. tid, ARGV[6])
  if d then redis.call('DEL', ARGV[5] .. d) end
  redis.call('DEL', ARGV[4] .. tid)
  redis.call('ZREM', KEYS[7], tid)
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[8])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
return 1
`)

// DeleteUser removes a user with their memberships and tokens in one
// script, so a crash leaves all or nothing.
func (s *Store) DeleteUser(ctx context.Context, id int64) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "delete user"
	// A username never changes, so the index key read here is the one
	// the script must free.
	name, err := s.c.HGet(ctx, s.idKey("u", id), fUsername).Result()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%s %d: %w", op, id, tokens.ErrNotFound)
	} else if err != nil {
		return wrap(op, err)
	}
	n, err := runStatus(ctx, s.c, deleteUserScript,
		[]string{s.idKey("u", id), s.key("un", fold(name)), s.idKey("um", id), s.idKey("ut", id), s.key("uz"), s.key("ub"), s.key("tz"), s.idKey("ug", id)},
		id, ownerPrefix, s.key("pm", ""), s.key("t", ""), s.key("th", ""), fDigest, s.key("gm", ""), s.key("gmz", ""), s.key("pmz", ""))
	return status(op, n, err)
}

// ListPATs answers a page of the tokens q selects and their number.
func (s *Store) ListPATs(ctx context.Context, q tokens.PATQuery) ([]tokens.PersonalAccessToken, int, error) {
	const op = "list personal access tokens"
	set := s.key("tz")
	if q.UserID != 0 {
		set = s.idKey("ut", q.UserID)
	}
	ids, total, err := s.page(ctx, set, q.Page)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	out := make([]tokens.PersonalAccessToken, 0, len(ids))
	err = s.hgetall(ctx, "t", ids, func(id int64, m map[string]string) error {
		t, err := decodePAT(id, m)
		out = append(out, t)
		return err
	})
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, total, nil
}

// rotatePATScript: KEYS = old token, user, new digest index, new token,
// tokens, user's tokens; ARGV = new ID, revoked field, user field, user
// ID, new token's fields... 0: the old token is revoked (or the digest
// taken); -1: the old token or the user is missing, or the old token is
// not the user's.
var rotatePATScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], ARGV[3]) ~= ARGV[4] then return -1 end
if redis.call('HGET', KEYS[1], ARGV[2]) == '1' then return 0 end
if not redis.call('SET', KEYS[3], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], '1')
redis.call('HSET', KEYS[4], unpack(ARGV, 5))
redis.call('ZADD', KEYS[5], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[1], ARGV[1])
return 1
`)

// RotatePAT revokes oldID and creates t in one script; t.UserID must be
// the old token's user.
func (s *Store) RotatePAT(ctx context.Context, oldID int64, t *tokens.PersonalAccessToken) (err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "rotate personal access token"
	if len(t.Digest) == 0 {
		return fmt.Errorf("%s: empty digest", op)
	}
	f, err := encodePAT(t)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	id, err := s.nextID(ctx, "pat")
	if err != nil {
		return wrap(op, err)
	}
	k := s.patKeys(t, id)
	n, err := runStatus(ctx, s.c, rotatePATScript,
		[]string{s.idKey("t", oldID), k[0], k[1], k[2], k[3], k[4]},
		append([]any{id, fRevoked, fUser, t.UserID}, f...)...)
	if err := status(op, n, err); err != nil {
		return err
	}
	t.ID = id
	return nil
}

// updateProjectScript sets fields ARGV[4..] of the project KEYS[1] when it
// exists, sets the generation KEYS[2] to ARGV[1] (the replica cache keeps
// projects with their deploy tokens), puts its ID ARGV[2] in the project
// indexes KEYS[3..5] (all, internal, public) its visibility (the field
// named ARGV[3]) selects, and answers the project's fields.
var updateProjectScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
redis.call('SET', KEYS[2], ARGV[1])
local vis = redis.call('HGET', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[2])
if vis == 'internal' or vis == 'public' then redis.call('ZADD', KEYS[4], ARGV[2], ARGV[2]) else redis.call('ZREM', KEYS[4], ARGV[2]) end
if vis == 'public' then redis.call('ZADD', KEYS[5], ARGV[2], ARGV[2]) else redis.call('ZREM', KEYS[5], ARGV[2]) end
return redis.call('HGETALL', KEYS[1])
`)

// UpdateProject applies c to project id and answers the result.
func (s *Store) UpdateProject(ctx context.Context, id int64, c tokens.ProjectChange) (_ tokens.Project, err error) {
	defer s.ackReplicated(ctx, &err)
	const op = "update project"
	var f fields
	f.str(fName, c.Name)
	f.str(fVisibility, string(c.Visibility))
	keys := []string{s.idKey("p", id), s.key("gen"), s.projectIndex(tokens.AllProjects), s.projectIndex(tokens.InternalProjects), s.projectIndex(tokens.PublicProjects)}
	v, err := updateProjectScript.Run(ctx, s.c, keys, append([]any{newGeneration(), id, fVisibility}, f...)...).Result()
	if err != nil {
		return tokens.Project{}, wrap(op, err)
	}
	m, err := pairs(v)
	if err != nil {
		return tokens.Project{}, fmt.Errorf("%s: %w", op, err)
	}
	return decodeProject(id, m)
}

package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// A reservation of a deleted project's path is the hash dp:<lower path>,
// and its lower path a member of the sorted set dpz, all scores 0, so that
// the set is in path order: it pages the list, and the reservations inside
// a path are one ZRANGEBYLEX. The create script checks dpz (see
// reservedLua); DeleteProjectReserving writes both in the transaction
// that deletes the project.

// Fields of a reservation beyond fPathWithNS and fProject.
const (
	fDeadDeletedAt = "t"
	fDeadPurge     = "q"
	fDeadPurgedAt  = "y"
)

func encodeDeadPath(d *tokens.DeadPath) (fields, error) {
	var f fields
	f.str(fPathWithNS, d.Path)
	f.int(fProject, d.ProjectID)
	f.bool(fDeadPurge, d.Purge)
	if err := f.time(fDeadDeletedAt, d.DeletedAt); err != nil {
		return nil, err
	}
	if err := f.time(fDeadPurgedAt, d.PurgedAt); err != nil {
		return nil, err
	}
	return f, nil
}

func decodeDeadPath(m map[string]string) (tokens.DeadPath, error) {
	r := record{m: m}
	d := tokens.DeadPath{Path: r.str(fPathWithNS), ProjectID: r.int(fProject), Purge: r.bool(fDeadPurge),
		DeletedAt: r.time(fDeadDeletedAt), PurgedAt: r.time(fDeadPurgedAt)}
	return d, r.err
}

// reservedLua defines reservedAt(set, lower): the member of the set of
// reserved paths that Covers lower (its own, one of a namespace above it,
// or the first inside it), or nil.
const reservedLua = `
local function reservedAt(set, lower)
  if redis.call('ZSCORE', set, lower) then return lower end
  local i = 0
  while true do
    i = string.find(lower, '/', i + 1, true)
    if not i then break end
    local above = string.sub(lower, 1, i - 1)
    if redis.call('ZSCORE', set, above) then return above end
  end
  local under = redis.call('ZRANGEBYLEX', set, '[' .. lower .. '/', '(' .. lower .. '0', 'LIMIT', 0, 1)
  return under[1]
end
`

// deadPathCoveringScript answers the reservation (under ARGV[2]..path)
// whose path in the set KEYS[1] Covers ARGV[1], as HGETALL does.
var deadPathCoveringScript = redis.NewScript(reservedLua + `
local p = reservedAt(KEYS[1], ARGV[1])
if not p then return false end
return redis.call('HGETALL', ARGV[2] .. p)
`)

// releaseDeadPathScript deletes the reservation KEYS[1] and its member
// ARGV[1] of the set KEYS[2], when its project is ARGV[2] ("0": any). A
// project ID of 0 is not stored (zero fields are left out).
var releaseDeadPathScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[2] ~= '0' and redis.call('HGET', KEYS[1], '` + fProject + `') ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// markPurgedScript sets the field ARGV[2] of the reservation KEYS[1] to
// ARGV[3] when its project is ARGV[1] and the field is unset.
var markPurgedScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if (redis.call('HGET', KEYS[1], '` + fProject + `') or '0') ~= ARGV[1] then return -1 end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return -1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
`)

// reserve queues the writes that store d (fields f), replacing the
// reservation of its path.
func (s *Store) reserve(ctx context.Context, p redis.Pipeliner, d *tokens.DeadPath, f fields) {
	lower := fold(d.Path)
	p.Del(ctx, s.key("dp", lower))
	p.HSet(ctx, s.key("dp", lower), f...)
	p.ZAdd(ctx, s.key("dpz"), redis.Z{Member: lower})
}

// DeleteProjectReserving deletes project id and reserves its path in one
// MULTI/EXEC transaction (see DeleteProject).
func (s *Store) DeleteProjectReserving(ctx context.Context, id int64, d tokens.DeadPath) (tokens.DeadPath, error) {
	if err := s.deleteProject(ctx, "delete project reserving its path", id, &d); err != nil {
		return tokens.DeadPath{}, err
	}
	return d, nil
}

// ReserveDeadPath stores d, replacing the reservation of its path.
func (s *Store) ReserveDeadPath(ctx context.Context, d tokens.DeadPath) error {
	const op = "reserve path"
	f, err := encodeDeadPath(&d)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		s.reserve(ctx, p, &d, f)
		return nil
	})
	return wrap(op, err)
}

// DeadPath answers the reservation of exactly path, in any case.
func (s *Store) DeadPath(ctx context.Context, path string) (tokens.DeadPath, error) {
	const op = "reserved path"
	m, err := s.c.HGetAll(ctx, s.key("dp", fold(path))).Result()
	if err != nil {
		return tokens.DeadPath{}, wrap(op, err)
	}
	if len(m) == 0 {
		return tokens.DeadPath{}, fmt.Errorf("%s %q: %w", op, path, tokens.ErrNotFound)
	}
	return decodeDeadPath(m)
}

// DeadPathCovering answers a reservation that Covers path, in one script.
func (s *Store) DeadPathCovering(ctx context.Context, path string) (tokens.DeadPath, error) {
	const op = "reserved path covering"
	v, err := deadPathCoveringScript.Run(ctx, s.c, []string{s.key("dpz")}, fold(path), s.key("dp", "")).Result()
	if err != nil {
		return tokens.DeadPath{}, wrap(op, err)
	}
	m, err := pairs(v)
	if err != nil {
		return tokens.DeadPath{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(m) == 0 {
		// In the set, its hash gone: not written by this store.
		return tokens.DeadPath{}, fmt.Errorf("%s %q: %w", op, path, tokens.ErrNotFound)
	}
	return decodeDeadPath(m)
}

// ListDeadPaths answers a page of the reservations in path order.
func (s *Store) ListDeadPaths(ctx context.Context, q tokens.Page) ([]tokens.DeadPath, int, error) {
	const op = "list reserved paths"
	var (
		card *redis.IntCmd
		rng  *redis.StringSliceCmd
	)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		card = p.ZCard(ctx, s.key("dpz"))
		if q.Limit > 0 {
			rng = p.ZRange(ctx, s.key("dpz"), int64(q.Offset), int64(q.Offset+q.Limit-1))
		}
		return nil
	})
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	total := int(card.Val())
	if rng == nil || len(rng.Val()) == 0 {
		return nil, total, nil
	}
	pipe := s.c.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(rng.Val()))
	for i, lower := range rng.Val() {
		cmds[i] = pipe.HGetAll(ctx, s.key("dp", lower))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, wrap(op, err)
	}
	out := make([]tokens.DeadPath, 0, len(cmds))
	for _, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			continue // released since the page was read
		}
		d, err := decodeDeadPath(cmd.Val())
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, d)
	}
	return out, total, nil
}

// ReleaseDeadPath removes the reservation of path, when it is projectID's
// (any, for 0).
func (s *Store) ReleaseDeadPath(ctx context.Context, path string, projectID int64) error {
	lower := fold(path)
	n, err := runStatus(ctx, s.c, releaseDeadPathScript, []string{s.key("dp", lower), s.key("dpz")}, lower, projectID)
	return status("release reserved path", n, err)
}

// MarkDeadPathPurged sets PurgedAt of projectID's reservation of path,
// once.
func (s *Store) MarkDeadPathPurged(ctx context.Context, path string, projectID int64, at time.Time) error {
	const op = "mark reserved path purged"
	b, err := at.MarshalBinary()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	n, err := runStatus(ctx, s.c, markPurgedScript, []string{s.key("dp", fold(path))}, projectID, fDeadPurgedAt, b)
	return status(op, n, err)
}

// migrateDeadPaths moves the reservations that versions before the
// records kept in one JSON array at tokens.LegacyDeadPathsKey into
// records, and deletes the array, in one transaction that starts over
// when the array changes meanwhile: replicas starting together move it
// once. A replica of an older version still running afterwards writes
// the array again, unseen: upgrade every replica.
func (s *Store) migrateDeadPaths(ctx context.Context) error {
	const op = "migrate the reserved paths"
	legacy := s.key("kv", tokens.LegacyDeadPathsKey)
	txf := func(tx *redis.Tx) error {
		raw, err := tx.Get(ctx, legacy).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil
		} else if err != nil {
			return err
		}
		var ds []tokens.DeadPath
		if err := json.Unmarshal(raw, &ds); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		fs := make([]fields, len(ds))
		for i := range ds {
			if fs[i], err = encodeDeadPath(&ds[i]); err != nil {
				return err
			}
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for i := range ds {
				s.reserve(ctx, p, &ds[i], fs[i])
			}
			p.Del(ctx, legacy)
			return nil
		})
		return err
	}
	for range maxTxRetries {
		err := s.c.Watch(ctx, txf, legacy)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		return wrap(op, err)
	}
	return fmt.Errorf("%s: %w: too much concurrent change", op, tokens.ErrConflict)
}

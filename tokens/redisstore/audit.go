package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// The audit trail: each event a JSON string at ae:ID (it is written once
// and read whole, never a field at a time), in sorted sets whose scores
// are the creation times in microseconds and whose members are the IDs
// zero-padded, so that equal times order by ID: aez:i (every event),
// aez:p:ID (a project's), aez:g:ID (a group's), and each of those with
// :n:NAME for the events of one name, so that every filter the API takes
// is one range of one set. aeo:ONCE marks an append made with Once.

// eventIndexes answers the sorted sets e belongs to.
func (s *Store) eventIndexes(e *tokens.AuditEvent) []string {
	scopes := []string{"i"}
	if e.ProjectID != 0 {
		scopes = append(scopes, "p:"+strconv.FormatInt(e.ProjectID, 10))
	}
	if e.GroupID != 0 {
		scopes = append(scopes, "g:"+strconv.FormatInt(e.GroupID, 10))
	}
	keys := make([]string, 0, 2*len(scopes))
	for _, sc := range scopes {
		keys = append(keys, s.key("aez", sc), s.key("aez", sc, "n", e.Name))
	}
	return keys
}

// member is the sorted-set member of an ID: fixed width, so that members
// of equal score order by ID.
func member(id int64) string { return fmt.Sprintf("%020d", id) }

func micros(t time.Time) float64 { return float64(t.UnixMicro()) }

// appendEventScript stores an event and its deliveries. KEYS: the once
// marker ("" slot unused when ARGV[1] is 0), the event key, the delivery
// queue, then the event's indexes, then the deliveries' keys. ARGV: 1 when
// the marker counts, the event JSON, its score, its member, the number of
// indexes, then per delivery its JSON, its member and its due time.
var appendEventScript = redis.NewScript(`
if ARGV[1] == '1' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  redis.call('SET', KEYS[1], '1')
end
redis.call('SET', KEYS[2], ARGV[2])
local n = tonumber(ARGV[5])
for i = 1, n do
  redis.call('ZADD', KEYS[3 + i], ARGV[3], ARGV[4])
end
local d = 0
for i = 6, #ARGV, 3 do
  d = d + 1
  redis.call('HSET', KEYS[3 + n + d], 'd', ARGV[i], 'a', 0)
  redis.call('ZADD', KEYS[3], ARGV[i + 2], ARGV[i + 1])
end
return 1
`)

// AppendEvent stores e in its lists and ds in the delivery queue in one
// script; ErrConflict when e.Once was used before.
func (s *Store) AppendEvent(ctx context.Context, e *tokens.AuditEvent, ds []tokens.Delivery) error {
	const op = "append audit event"
	id, err := s.nextID(ctx, "event")
	if err != nil {
		return wrap(op, err)
	}
	ev := *e
	ev.ID = id
	data, err := json.Marshal(&ev)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	once, counts := s.key("aeo", ev.Once), "0"
	if ev.Once != "" {
		counts = "1"
	}
	idx := s.eventIndexes(&ev)
	keys := append([]string{once, s.idKey("ae", id), s.key("wq")}, idx...)
	args := []any{counts, data, micros(ev.CreatedAt), member(id), len(idx)}
	for i := range ds {
		did, err := s.nextID(ctx, "delivery")
		if err != nil {
			return wrap(op, err)
		}
		d := ds[i]
		d.ID, d.EventID = did, id
		dj, err := json.Marshal(&d)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		keys = append(keys, s.idKey("wd", did))
		args = append(args, dj, did, d.CreatedAt.UnixMilli())
	}
	n, err := runStatus(ctx, s.c, appendEventScript, keys, args...)
	if err := status(op, n, err); err != nil {
		return err
	}
	e.ID = id
	return nil
}

// eventQueryKey answers the sorted set that serves q.
func (s *Store) eventQueryKey(q tokens.EventQuery) string {
	scope := "i"
	switch {
	case q.ProjectID != 0:
		scope = "p:" + strconv.FormatInt(q.ProjectID, 10)
	case q.GroupID != 0:
		scope = "g:" + strconv.FormatInt(q.GroupID, 10)
	}
	if q.Name != "" {
		return s.key("aez", scope, "n", q.Name)
	}
	return s.key("aez", scope)
}

// scoreRange answers q's time bounds as sorted-set score bounds.
func scoreRange(q tokens.EventQuery) (lo, hi string) {
	lo, hi = "-inf", "+inf"
	if !q.After.IsZero() {
		lo = strconv.FormatInt(q.After.UnixMicro(), 10)
	}
	if !q.Before.IsZero() {
		hi = strconv.FormatInt(q.Before.UnixMicro(), 10)
	}
	return lo, hi
}

// PageEvents answers a page of the events q selects, newest first: the
// count and the page's IDs in one transaction, the events in one MGET.
func (s *Store) PageEvents(ctx context.Context, q tokens.EventQuery) ([]tokens.AuditEvent, int, error) {
	const op = "list audit events"
	key := s.eventQueryKey(q)
	lo, hi := scoreRange(q)
	var (
		count *redis.IntCmd
		rng   *redis.StringSliceCmd
	)
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		count = p.ZCount(ctx, key, lo, hi)
		if q.Limit > 0 {
			rng = p.ZRevRangeByScore(ctx, key, &redis.ZRangeBy{Min: lo, Max: hi, Offset: int64(q.Offset), Count: int64(q.Limit)})
		}
		return nil
	})
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	if rng == nil || len(rng.Val()) == 0 {
		return nil, int(count.Val()), nil
	}
	out, err := s.events(ctx, rng.Val())
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, int(count.Val()), nil
}

// events reads the events of members, skipping those swept meanwhile.
func (s *Store) events(ctx context.Context, members []string) ([]tokens.AuditEvent, error) {
	keys := make([]string, len(members))
	for i, m := range members {
		id, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("audit index member %q: %w", m, err)
		}
		keys[i] = s.idKey("ae", id)
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]tokens.AuditEvent, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var e tokens.AuditEvent
		if err := json.Unmarshal([]byte(str), &e); err != nil {
			return nil, fmt.Errorf("decode %s: %w", keys[i], err)
		}
		out = append(out, e)
	}
	return out, nil
}

// SweepEvents deletes the events created before before, a batch at a
// time, from every list they are in. It is idempotent: replicas sweeping
// at once repeat deletes.
func (s *Store) SweepEvents(ctx context.Context, before time.Time) (int, error) {
	const op = "sweep audit events"
	hi := "(" + strconv.FormatInt(before.UnixMicro(), 10)
	total := 0
	for {
		ms, err := s.c.ZRangeByScore(ctx, s.key("aez", "i"), &redis.ZRangeBy{Min: "-inf", Max: hi, Count: batch}).Result()
		if err != nil {
			return total, wrap(op, err)
		}
		if len(ms) == 0 {
			return total, nil
		}
		es, err := s.events(ctx, ms)
		if err != nil {
			return total, wrap(op, err)
		}
		pipe := s.c.TxPipeline()
		for i := range es {
			for _, k := range s.eventIndexes(&es[i]) {
				pipe.ZRem(ctx, k, member(es[i].ID))
			}
			pipe.Del(ctx, s.idKey("ae", es[i].ID))
		}
		// Members whose event is gone already (a sweep that stopped half
		// way) leave the instance list too.
		pipe.ZRem(ctx, s.key("aez", "i"), anys(ms)...)
		if _, err := pipe.Exec(ctx); err != nil {
			return total, wrap(op, err)
		}
		total += len(es)
		if len(ms) < batch {
			return total, nil
		}
	}
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

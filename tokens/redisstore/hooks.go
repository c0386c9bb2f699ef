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

// Webhooks: each a JSON string at wh:ID, listed by ID in whz:p:ID (a
// project's) or whz:g:ID (a group's). Deliveries: a hash at wd:ID (d: the
// delivery's JSON, a: its attempts, s: its last status) queued in the
// sorted set wq scored by the Unix milliseconds it is due at. A claim
// pushes a delivery's due time a lease ahead in the same script that
// answers it (a queue with leases, rather than a stream with a consumer
// group: a retry is one ZADD at a later time, where a stream would need a
// second, delayed queue).

func (s *Store) hookList(projectID, groupID int64) string {
	if groupID != 0 {
		return s.key("whz", "g", strconv.FormatInt(groupID, 10))
	}
	return s.key("whz", "p", strconv.FormatInt(projectID, 10))
}

// CreateHook assigns h.ID and stores h.
func (s *Store) CreateHook(ctx context.Context, h *tokens.Hook) error {
	const op = "create hook"
	id, err := s.nextID(ctx, "hook")
	if err != nil {
		return wrap(op, err)
	}
	rec := *h
	rec.ID = id
	data, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.idKey("wh", id), data, 0)
		p.ZAdd(ctx, s.hookList(h.ProjectID, h.GroupID), redis.Z{Score: float64(id), Member: id})
		return nil
	})
	if err != nil {
		return wrap(op, err)
	}
	h.ID = id
	return nil
}

// Hook answers the hook with id.
func (s *Store) Hook(ctx context.Context, id int64) (tokens.Hook, error) {
	var h tokens.Hook
	data, err := s.c.Get(ctx, s.idKey("wh", id)).Bytes()
	if err != nil {
		return h, wrap(fmt.Sprintf("hook %d", id), err)
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("decode hook %d: %w", id, err)
	}
	return h, nil
}

// ListHooks answers a project's or a group's hooks ordered by ID.
func (s *Store) ListHooks(ctx context.Context, projectID, groupID int64) ([]tokens.Hook, error) {
	const op = "list hooks"
	ids, err := s.c.ZRange(ctx, s.hookList(projectID, groupID), 0, -1).Result()
	if err != nil || len(ids) == 0 {
		return nil, wrap(op, err)
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.key("wh", id)
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]tokens.Hook, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		var h tokens.Hook
		if err := json.Unmarshal([]byte(str), &h); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, h)
	}
	return out, nil
}

var replaceScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// UpdateHook replaces a stored hook; ErrNotFound when there is none.
func (s *Store) UpdateHook(ctx context.Context, h tokens.Hook) error {
	const op = "update hook"
	data, err := json.Marshal(&h)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	n, err := runStatus(ctx, s.c, replaceScript, []string{s.idKey("wh", h.ID)}, data)
	return status(op, n, err)
}

var deleteHookScript = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 0 then return -1 end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// DeleteHook removes a hook; ErrNotFound when there is none.
func (s *Store) DeleteHook(ctx context.Context, id int64) error {
	const op = "delete hook"
	h, err := s.Hook(ctx, id)
	if err != nil {
		return err
	}
	n, err := runStatus(ctx, s.c, deleteHookScript, []string{s.idKey("wh", id), s.hookList(h.ProjectID, h.GroupID)}, id)
	return status(op, n, err)
}

// claimScript answers up to ARGV[3] deliveries of the queue KEYS[1] due at
// ARGV[1] (ms) as {id, attempts, json, ...}, each made due again at
// ARGV[1]+ARGV[2] and its attempts counted; one whose record is gone
// leaves the queue.
var claimScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
local due = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, id in ipairs(ids) do
  local k = ARGV[4] .. id
  local d = redis.call('HGET', k, 'd')
  if d then
    local a = redis.call('HINCRBY', k, 'a', 1)
    redis.call('ZADD', KEYS[1], due, id)
    table.insert(out, id)
    table.insert(out, a)
    table.insert(out, d)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`)

// ClaimDeliveries answers the deliveries due at now, leased for lease.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, max int) ([]tokens.Delivery, error) {
	const op = "claim webhook deliveries"
	v, err := claimScript.Run(ctx, s.c, []string{s.key("wq")}, now.UnixMilli(), lease.Milliseconds(), max, s.key("wd", "")).Slice()
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]tokens.Delivery, 0, len(v)/3)
	for i := 0; i+2 < len(v); i += 3 {
		str, _ := v[i+2].(string)
		var d tokens.Delivery
		if err := json.Unmarshal([]byte(str), &d); err != nil {
			return nil, fmt.Errorf("%s: decode: %w", op, err)
		}
		if a, ok := v[i+1].(int64); ok {
			d.Attempts = int(a)
		}
		out = append(out, d)
	}
	return out, nil
}

var retryScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
redis.call('HSET', KEYS[2], 's', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// RetryDelivery makes a delivery due at at, noting status.
func (s *Store) RetryDelivery(ctx context.Context, id int64, at time.Time, st string) error {
	n, err := runStatus(ctx, s.c, retryScript, []string{s.key("wq"), s.idKey("wd", id)}, at.UnixMilli(), id, st)
	return status("retry webhook delivery", n, err)
}

// FinishDelivery removes a delivery from the queue.
func (s *Store) FinishDelivery(ctx context.Context, id int64) error {
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.key("wq"), id)
		p.Del(ctx, s.idKey("wd", id))
		return nil
	})
	return wrap("finish webhook delivery", err)
}

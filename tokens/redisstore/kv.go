package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/cache"
)

// Get answers the value at key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.c.Get(ctx, s.key("kv", key)).Bytes()
	if err != nil {
		return nil, wrap("kv get", err)
	}
	return v, nil
}

// Create stores value only when key is absent; ErrConflict otherwise.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if s.bumps(key) {
		n, err := runStatus(ctx, s.c, createKVScript, []string{s.key("kv", key), s.key("gen")}, value, milliseconds(ttl), newGeneration())
		return status("kv create", n, err)
	}
	ok, err := s.c.SetNX(ctx, s.key("kv", key), value, ttl).Result()
	if err != nil {
		return wrap("kv create", err)
	}
	if !ok {
		return fmt.Errorf("kv create: %w", tokens.ErrConflict)
	}
	return nil
}

// bumps reports whether writing the KV key sets a new generation: it is
// one that a cache answers from memory. Incr never does: no cached key is
// a counter.
func (s *Store) bumps(key string) bool {
	return cache.Invalidates(key)
}

// milliseconds is ttl for a PX argument: at least 1 when positive, 0 for
// no expiry.
func milliseconds(ttl time.Duration) int64 {
	ms := ttl.Milliseconds()
	if ttl > 0 && ms == 0 {
		ms = 1
	}
	return ms
}

// CompareAndSwap replaces old with value, without expiry; old == nil means
// key must be absent. ErrConflict when the current value differs.
func (s *Store) CompareAndSwap(ctx context.Context, key string, old, value []byte) (err error) {
	defer s.ackReplicated(ctx, &err)
	mode := "1" // compare with old
	if old == nil {
		mode = "0" // key must be absent
	}
	if s.bumps(key) {
		n, err := runStatus(ctx, s.c, casScript, []string{s.key("kv", key), s.key("gen")}, mode, old, value, newGeneration())
		return status("kv compare and swap", n, err)
	}
	n, err := runStatus(ctx, s.c, casScript, []string{s.key("kv", key)}, mode, old, value)
	return status("kv compare and swap", n, err)
}

// Delete removes key; an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) (err error) {
	defer s.ackReplicated(ctx, &err)
	if s.bumps(key) {
		err := deleteKVScript.Run(ctx, s.c, []string{s.key("kv", key), s.key("gen")}, newGeneration()).Err()
		return wrap("kv delete", err)
	}
	return wrap("kv delete", s.c.Del(ctx, s.key("kv", key)).Err())
}

// Take answers the value and removes key in one script (GETDEL needs Redis
// 6.2); ErrNotFound when absent.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	return s.valueScript(ctx, "kv take", takeKVScript, key)
}

// valueScript runs script, which answers the value at key (ErrNotFound
// when absent) and may change key. For a cached key it is also given the
// generation as KEYS[2] and a new one as its last ARGV, which it sets
// when it changed key.
func (s *Store) valueScript(ctx context.Context, op string, script *redis.Script, key string, args ...any) ([]byte, error) {
	keys, bumps := []string{s.key("kv", key)}, s.bumps(key)
	if bumps {
		keys = append(keys, s.key("gen"))
	}
	v, err := script.Run(ctx, s.c, keys, append(args, newGeneration())...).Text()
	if err != nil {
		return nil, wrap(op, err)
	}
	return []byte(v), nil
}

// Incr adds one to the counter at key and answers the new count; a counter
// created by this call expires after ttl (never when ttl is 0).
func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	n, err := incrScript.Run(ctx, s.c, []string{s.key("kv", key)}, milliseconds(ttl)).Int64()
	if err != nil {
		return 0, wrap("kv incr", err)
	}
	return n, nil
}

// Renew answers the value and, when it has less than ttl - ttl/30 left,
// lets key live ttl from now, in one script; ErrNotFound when absent.
func (s *Store) Renew(ctx context.Context, key string, ttl time.Duration) ([]byte, error) {
	return s.valueScript(ctx, "kv renew", renewKVScript, key, milliseconds(ttl), milliseconds(ttl-ttl/30))
}

// Strike counts a failure and may ban, in one script (one round trip).
func (s *Store) Strike(ctx context.Context, q tokens.Strike) (tokens.Struck, error) {
	keys := []string{s.key("kv", q.Counter), s.key("kv", q.Ban), s.key("gen")}
	res, err := strikeScript.Run(ctx, s.c, keys, milliseconds(q.Window), q.Limit, q.Value, milliseconds(q.BanTTL), newGeneration()).Slice()
	if err != nil {
		return tokens.Struck{}, wrap("kv strike", err)
	}
	if len(res) != 4 {
		return tokens.Struck{}, fmt.Errorf("kv strike: script answered %d values", len(res))
	}
	n, _ := res[0].(int64)
	banned, _ := res[1].(int64)
	ban, _ := res[2].(string)
	created, _ := res[3].(int64)
	out := tokens.Struck{Count: n, Banned: banned == 1, Created: created == 1}
	if out.Banned {
		out.Ban = []byte(ban)
	}
	return out, nil
}

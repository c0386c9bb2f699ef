package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/deploytokens/deploytokens/deploy"
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
	ok, err := s.c.SetNX(ctx, s.key("kv", key), value, ttl).Result()
	if err != nil {
		return wrap("kv create", err)
	}
	if !ok {
		return fmt.Errorf("kv create: %w", deploy.ErrConflict)
	}
	return nil
}

// CompareAndSwap replaces old with value, without expiry; old == nil means
// key must be absent. ErrConflict when the current value differs.
func (s *Store) CompareAndSwap(ctx context.Context, key string, old, value []byte) error {
	mode := "1" // compare with old
	if old == nil {
		mode = "0" // key must be absent
	}
	n, err := runStatus(ctx, s.c, casScript, []string{s.key("kv", key)}, mode, old, value)
	return status("kv compare and swap", n, err)
}

// Delete removes key; an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	return wrap("kv delete", s.c.Del(ctx, s.key("kv", key)).Err())
}

// Incr adds one to the counter at key and answers the new count; a counter
// created by this call expires after ttl (never when ttl is 0).
func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	ms := ttl.Milliseconds()
	if ttl > 0 && ms == 0 {
		ms = 1
	}
	n, err := incrScript.Run(ctx, s.c, []string{s.key("kv", key)}, ms).Int64()
	if err != nil {
		return 0, wrap("kv incr", err)
	}
	return n, nil
}

package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/deploy"
)

// The hot-path cache keeps what DeployTokenByDigestAndGet answered in
// process memory, so a deploy token used again costs no round trip.
//
// Correctness rests on one counter, the generation (key "gen"): every write
// that can change a cached answer increments it in the same script or
// transaction as the write (revoking a token, deleting a project, writing a
// KV key under one of Options.CacheKVPrefixes). Additions (a new token, a
// new project) need not: only answers that found something are cached.
// Each replica reads the generation every cachePoll; a different value
// empties its cache. The cache answers only within cacheFresh of the start
// of the last read that saw its generation, so a revocation made through any
// replica is refused by every other one within cacheFresh of its write,
// even when reads of the generation fail (then nothing is answered from
// memory and every lookup goes to Redis, failing as it would uncached).
// Changes made behind the server's back (redis-cli) do not bump the
// generation; entries older than cacheMaxAge are read again, which bounds
// how long those go unseen.
const (
	cachePoll   = 100 * time.Millisecond
	cacheFresh  = 500 * time.Millisecond
	cacheMaxAge = time.Minute
)

type cachedToken struct {
	t    deploy.DeployToken
	p    deploy.Project
	read time.Time
}

type cachedValue struct {
	value []byte
	found bool
	read  time.Time
}

// hotCache is the cache of one Store. Entries are read at gen; the cache
// answers while confirmed (the start of the last read of the generation
// that answered gen) is within cacheFresh.
type hotCache struct {
	now      func() time.Time
	max      int
	prefixes []string

	mu        sync.RWMutex
	gen       int64
	confirmed time.Time
	tokens    map[string]cachedToken // by digest
	digests   map[int64]string       // token ID -> digest, for touches
	values    map[string]cachedValue // KV key -> value
}

func newHotCache(max int, prefixes []string, now func() time.Time) *hotCache {
	c := &hotCache{now: now, max: max, prefixes: prefixes, gen: -1}
	c.reset(-1)
	return c
}

// reset empties the cache for generation gen. Callers hold mu.
func (c *hotCache) reset(gen int64) {
	c.gen = gen
	c.tokens = map[string]cachedToken{}
	c.digests = map[int64]string{}
	c.values = map[string]cachedValue{}
}

// cachesKey reports whether the KV key is cached: only keys whose writes
// increment the generation are.
func (c *hotCache) cachesKey(key string) bool {
	for _, p := range c.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// lookup answers the cached value of key and the token by digest when both
// are cached, fresh and young.
func (c *hotCache) lookup(key, digest string) (cachedValue, cachedToken, bool) {
	now := c.now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if now.Sub(c.confirmed) >= cacheFresh {
		return cachedValue{}, cachedToken{}, false
	}
	v, ok := c.values[key]
	if !ok || now.Sub(v.read) >= cacheMaxAge {
		return cachedValue{}, cachedToken{}, false
	}
	t, ok := c.tokens[digest]
	if !ok || now.Sub(t.read) >= cacheMaxAge {
		return cachedValue{}, cachedToken{}, false
	}
	return v, t, true
}

// store keeps what one lookup read at generation gen, unless the cache has
// moved to another generation since (the poll decides which is current).
func (c *hotCache) store(gen int64, key string, v cachedValue, digest string, t cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.tokens) >= c.max || len(c.values) >= c.max {
		c.evict()
	}
	c.values[key] = v
	if old, ok := c.tokens[digest]; ok && old.t.ID != t.t.ID {
		delete(c.digests, old.t.ID)
	}
	c.tokens[digest] = t
	c.digests[t.t.ID] = digest
}

// evict drops about a tenth of the entries, whichever the map order gives.
// Callers hold mu.
func (c *hotCache) evict() {
	n := c.max/10 + 1
	for d, t := range c.tokens {
		if n--; n < 0 {
			break
		}
		delete(c.tokens, d)
		delete(c.digests, t.t.ID)
	}
	n = c.max/10 + 1
	for k := range c.values {
		if n--; n < 0 {
			break
		}
		delete(c.values, k)
	}
}

// touched records a last use written to Redis in the cached token, so the
// next use does not write it again.
func (c *hotCache) touched(id int64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.digests[id]
	if !ok {
		return
	}
	e := c.tokens[d]
	e.t.LastUsedAt = &at
	c.tokens[d] = e
}

// confirm records that a read of the generation started at start answered
// gen, emptying the cache when gen differs from its own.
func (c *hotCache) confirm(gen int64, start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		c.reset(gen)
	}
	c.confirmed = start
}

// pollGeneration reads the generation every cachePoll until ctx ends.
func (s *Store) pollGeneration(ctx context.Context, logger *slog.Logger) {
	t := time.NewTicker(cachePoll)
	defer t.Stop()
	failing := false
	for {
		start := s.cache.now()
		gen, err := s.generation(ctx)
		switch {
		case err == nil:
			s.cache.confirm(gen, start)
			if failing {
				logger.Info("redisstore: cache: generation readable again; answering from memory")
			}
			failing = false
		case ctx.Err() != nil:
			return
		case !failing:
			failing = true
			logger.Warn("redisstore: cache: cannot read the generation; every lookup goes to Redis until it can", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// generation reads the generation counter; absent is 0.
func (s *Store) generation(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, cacheFresh)
	defer cancel()
	n, err := s.c.Get(ctx, s.key("gen")).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

package redisstore

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// The hot-path cache keeps what DeployTokenByDigestAndGet answered in
// process memory, so a deploy token used again costs no round trip.
//
// Correctness rests on one key, the generation ("gen"): every write that can
// change a cached answer sets it to a new random value in the same script
// or transaction as the write (revoking a token, deleting a project,
// writing a KV key under one of Options.CachedKV). Random values rather than
// a counter, so that a Redis that lost its last writes (a restart, a
// failover to a lagging replica) and then took new ones can never show an
// old generation again. Additions (a new token, a new project) need no new
// generation: only answers that found something are cached. And of those,
// only tokens usable at the time (not revoked, not expired): a refused
// token goes to Redis every time, as a secret that matches nothing does,
// so that how long a refusal takes does not tell a dead token from a guess.
//
// Each replica reads the generation every cachePoll; a different value
// empties its cache, and so does a failed read. The cache answers only
// within cacheFresh of the start of the last read that saw its generation,
// so a revocation made through any replica is refused by every other one
// within cacheFresh of its write, also when reads of the generation fail
// (then every lookup goes to Redis, failing as it would uncached). The
// replica that made a write empties its own cache at once.
//
// Every replica of an installation must run code that sets the generation
// on those writes before any of them turns the cache on. Changes made
// behind the server's back (redis-cli) set no generation; entries older
// than cacheMaxAge are read again, which bounds how long those go unseen.
const (
	cachePoll   = 100 * time.Millisecond
	cacheFresh  = 500 * time.Millisecond
	cacheMaxAge = time.Minute
)

type cachedToken struct {
	t    tokens.DeployToken
	p    tokens.Project
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
	now func() time.Time
	max int

	mu        sync.RWMutex
	gen       string // "" until a read of the generation succeeds
	confirmed time.Time
	// invalidated is when this replica last emptied the cache for a write
	// of its own: a read of the generation that started before it may
	// have read the generation before the write.
	invalidated time.Time
	tokens      map[string]cachedToken // by digest
	digests     map[int64]string       // token ID -> digest, for touches
	values      map[string]cachedValue // KV key -> value

	hits, misses atomic.Uint64 // of DeployTokenByDigestAndGet, for Stats
}

// Stats answers how many cacheable lookups the cache answered (hits) and
// how many went to Redis (misses) since the store was made; zeros without
// a cache.
func (s *Store) Stats() (hits, misses uint64) {
	if s.cache == nil {
		return 0, 0
	}
	return s.cache.hits.Load(), s.cache.misses.Load()
}

func newHotCache(max int, now func() time.Time) *hotCache {
	c := &hotCache{now: now, max: max}
	c.reset("")
	return c
}

// reset empties the cache for generation gen ("": none known, so nothing
// is stored or answered until a read of the generation succeeds). Callers
// hold mu.
func (c *hotCache) reset(gen string) {
	c.gen = gen
	c.tokens = map[string]cachedToken{}
	c.digests = map[int64]string{}
	c.values = map[string]cachedValue{}
}

// lookup answers the cached value of key and the token by digest when both
// are cached, fresh and young.
func (c *hotCache) lookup(key, digest string) (cachedValue, cachedToken, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	now := c.now()
	if c.gen == "" || now.Sub(c.confirmed) >= cacheFresh {
		return cachedValue{}, cachedToken{}, false
	}
	v, ok := c.values[key]
	if !ok || now.Sub(v.read) >= cacheMaxAge {
		return cachedValue{}, cachedToken{}, false
	}
	t, ok := c.tokens[digest]
	if !ok || now.Sub(t.read) >= cacheMaxAge || !t.t.Active(now) {
		return cachedValue{}, cachedToken{}, false
	}
	return v, t, true
}

// store keeps what one lookup read at generation gen, unless the cache has
// moved to another generation since (the poll decides which is current).
func (c *hotCache) store(gen string, key string, v cachedValue, digest string, t cachedToken) {
	if !t.t.Active(c.now()) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == "" || gen != c.gen {
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

// evict drops a tenth of the entries (at most 1024, so the lock is held
// briefly), whichever the map order gives. Callers hold mu.
func (c *hotCache) evict() {
	step := min(c.max/10+1, 1024)
	n := step
	for d, t := range c.tokens {
		if n--; n < 0 {
			break
		}
		delete(c.tokens, d)
		delete(c.digests, t.t.ID)
	}
	n = step
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

// invalidate empties the cache until a read of the generation that starts
// after now: this replica has just changed it, or could not read it.
func (c *hotCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset("")
	c.invalidated = c.now()
}

// confirm records that a read of the generation started at start answered
// gen, emptying the cache when gen differs from its own. A read that
// started before the last invalidate is ignored.
func (c *hotCache) confirm(gen string, start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if start.Before(c.invalidated) {
		return
	}
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
		default:
			s.cache.invalidate()
		}
		if err != nil && !failing {
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

// readGenerationScript reads the generation: a script, so that it goes to
// the primary as the lookups do, never to a lagging read replica.
var readGenerationScript = redis.NewScript(`return redis.call('GET', KEYS[1]) or '0'`)

// generation reads the generation; absent is "0".
func (s *Store) generation(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cacheFresh)
	defer cancel()
	return readGenerationScript.Run(ctx, s.c, []string{s.key("gen")}).Text()
}

// newGeneration answers a fresh generation value for a write to set.
func newGeneration() string {
	return rand.Text()
}

// changed empties this replica's cache after a write that set a new
// generation; other replicas see the new value within cacheFresh.
func (s *Store) changed() {
	if s.cache != nil {
		s.cache.invalidate()
	}
}

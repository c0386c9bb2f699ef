package cache

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// Source is a store the cache can wrap: one whose writes can be learned of
// by every replica that shares it.
type Source interface {
	tokens.Store
	// Generation answers a value that changes, in the same atomic step as
	// the write, with every write that can change what DeployTokenForAuth
	// answers about a token it finds: RevokeDeployToken, DeleteProject,
	// RevokeGroupDeployToken, DeleteGroup, and a KV write of a key for which Invalidates reports true. It
	// never goes back to a value it had before (a restored backup
	// included), and is read from where writes land, never from a
	// lagging replica.
	Generation(ctx context.Context) (string, error)
}

// Invalidates reports whether a KV write of key must change a Source's
// generation: the cache answers the bans (tokens.BanKey) from memory. No
// other KV key is read on the hot path.
func Invalidates(key string) bool { return strings.HasPrefix(key, tokens.BanKeyPrefix) }

// Options configure New.
type Options struct {
	// Size bounds how many deploy tokens (and as many bans) are kept in
	// memory; below 1 counts as 1.
	Size int
	// Logger receives the cache's reports; slog.Default() when nil.
	Logger *slog.Logger
}

// Store is a tokens.Store that answers DeployTokenForAuth from memory
// where it can and everything else from its Source. It is safe for
// concurrent use.
type Store struct {
	// Source answers every method Store does not declare itself.
	Source

	mem          *memory
	hits, misses atomic.Uint64
	stop         context.CancelFunc
	polling      sync.WaitGroup
}

var _ tokens.Store = (*Store)(nil)

// New wraps src and starts reading its generation every 100ms, until
// Close. The Store owns src: Close closes it.
func New(src Source, opts Options) *Store {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Store{Source: src, mem: newMemory(max(opts.Size, 1), time.Now), stop: stop}
	s.polling.Go(func() { s.pollGeneration(ctx, logger) })
	return s
}

// DeployTokenForAuth answers a usable token found before, with the ban of
// q.Addr, from memory while the cache is fresh, when q.Username is the
// token's username and q.Addr is not banned; anything else is read from
// the Source. Cached answers
// share their slices and pointers with the cache, so callers must not
// modify them (none does).
func (s *Store) DeployTokenForAuth(ctx context.Context, q tokens.DeployTokenQuery) (tokens.DeployTokenAuth, error) {
	digest := string(q.Digest)
	b, t, epoch, ok := s.mem.lookup(q.Addr, digest)
	// A banned address is refused whatever its token: read from the
	// Source, its refusal costs what every other refusal costs, so that
	// its time does not tell that the token is valid and in use.
	if ok && !b.banned && tokens.Equal(t.t.Username, q.Username) {
		s.hits.Add(1)
		return tokens.DeployTokenAuth{Banned: b.banned, Ban: b.value, Found: true, Token: t.t, Project: t.p, Group: t.g}, nil
	}
	s.misses.Add(1)
	a, err := s.Source.DeployTokenForAuth(ctx, q)
	if err == nil && a.Found {
		read := s.mem.now()
		s.mem.store(epoch, q.Addr, cachedBan{value: a.Ban, banned: a.Banned, read: read},
			digest, cachedToken{t: a.Token, p: a.Project, g: a.Group, read: read})
	}
	return a, err
}

// Stats answers how many DeployTokenForAuth calls were answered from
// memory (hits) and how many went to the Source (misses) since New: plain
// counters, for a metrics layer to read.
func (s *Store) Stats() (hits, misses uint64) {
	return s.hits.Load(), s.misses.Load()
}

// The writes below empty this replica's cache at once; other replicas see
// the new generation within fresh. They do so whatever the Source
// answered: a write that timed out may still have been made.

// RevokeDeployToken revokes the token in the Source and empties the cache.
func (s *Store) RevokeDeployToken(ctx context.Context, projectID, id int64) error {
	defer s.mem.invalidate()
	return s.Source.RevokeDeployToken(ctx, projectID, id)
}

// DeleteProject deletes the project in the Source and empties the cache.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	defer s.mem.invalidate()
	return s.Source.DeleteProject(ctx, id)
}

// TouchDeployToken writes the last use to the Source and, once written,
// to the cached token, so the next use does not write it again.
func (s *Store) TouchDeployToken(ctx context.Context, id int64, at time.Time) error {
	err := s.Source.TouchDeployToken(ctx, id, at)
	if err == nil {
		s.mem.touched(id, at)
	}
	return err
}

// Create stores the value in the Source, emptying the cache for a cached
// key. A create that found the key taken wrote nothing (a second ban of a
// banned address), so the cache stays.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	err := s.Source.Create(ctx, key, value, ttl)
	if !errors.Is(err, tokens.ErrConflict) {
		s.wrote(key)
	}
	return err
}

// CompareAndSwap swaps the value in the Source, emptying the cache for a
// cached key.
func (s *Store) CompareAndSwap(ctx context.Context, key string, old, value []byte) error {
	defer s.wrote(key)
	return s.Source.CompareAndSwap(ctx, key, old, value)
}

// Delete deletes the key in the Source, emptying the cache for a cached
// key.
func (s *Store) Delete(ctx context.Context, key string) error {
	defer s.wrote(key)
	return s.Source.Delete(ctx, key)
}

// Take takes the value from the Source, emptying the cache for a cached
// key.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	defer s.wrote(key)
	return s.Source.Take(ctx, key)
}

// Renew renews the key in the Source, emptying the cache for a cached
// key.
func (s *Store) Renew(ctx context.Context, key string, ttl time.Duration) ([]byte, error) {
	defer s.wrote(key)
	return s.Source.Renew(ctx, key, ttl)
}

// Strike strikes in the Source, emptying the cache when it banned (or
// may have): an attacker's failures alone must not empty it.
func (s *Store) Strike(ctx context.Context, q tokens.Strike) (tokens.Struck, error) {
	r, err := s.Source.Strike(ctx, q)
	if err != nil || r.Created {
		// Of a failed strike it is not known whether it banned.
		s.wrote(q.Ban)
	}
	return r, err
}

func (s *Store) wrote(key string) {
	if Invalidates(key) {
		s.mem.invalidate()
	}
}

// Close stops reading the generation and closes the Source.
func (s *Store) Close() error {
	s.stop()
	s.polling.Wait()
	return s.Source.Close()
}

// pollGeneration reads the generation every poll until ctx ends.
func (s *Store) pollGeneration(ctx context.Context, logger *slog.Logger) {
	t := time.NewTicker(poll)
	defer t.Stop()
	failing := false
	for {
		start := s.mem.now()
		gen, err := s.generation(ctx)
		switch {
		case err == nil:
			s.mem.confirm(gen, start)
			if failing {
				logger.Info("cache: generation readable again; answering from memory")
			}
			failing = false
		case ctx.Err() != nil:
			return
		default:
			s.mem.invalidate()
		}
		if err != nil && !failing {
			failing = true
			logger.Warn("cache: cannot read the generation; every lookup goes to the store until it can", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// generation reads the Source's generation, giving up after fresh: a
// later answer could not be believed anyway.
func (s *Store) generation(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, fresh)
	defer cancel()
	return s.Source.Generation(ctx)
}

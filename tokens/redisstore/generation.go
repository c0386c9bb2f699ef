package redisstore

import (
	"context"
	"crypto/rand"

	"github.com/redis/go-redis/v9"
)

// The generation key ("gen") is what a replica's cache (package
// tokens/cache) polls to learn of writes made through other replicas.
// Every write that can change what DeployTokenForAuth answers about a
// token it finds sets gen to a new random value in the same script or
// transaction as the write: revoking a token (of a project or a group),
// rotating one,
// deleting a project or a group, and
// writing a KV key the cache answers from memory (cache.Invalidates: the
// bans). It is set whether or not this replica caches, since others may.
// A write that changes nothing (a failed one, deleting an absent ban)
// leaves it, so other replicas keep their caches. Random values rather
// than a counter, so that a Redis that lost its last writes (a restart, a
// failover to a lagging replica) and then took new ones can never show an
// old generation again. Additions (a new token, a new project) need no
// new generation: the cache keeps only tokens that were found.

// readGenerationScript reads the generation: a script, so that it goes to
// the primary as the lookups do, never to a lagging read replica.
var readGenerationScript = redis.NewScript(`return redis.call('GET', KEYS[1]) or '0'`)

// Generation answers the generation; absent is "0".
func (s *Store) Generation(ctx context.Context) (string, error) {
	gen, err := readGenerationScript.Run(ctx, s.c, []string{s.key("gen")}).Text()
	return gen, wrap("read generation", err)
}

// newGeneration answers a fresh generation value for a write to set.
func newGeneration() string {
	return rand.Text()
}

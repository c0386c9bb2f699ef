package redisstore

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// Acknowledging a write only once a replica has it.
//
// Redis replicates asynchronously: a master killed right after answering
// a write may be replaced by a replica that never got it, undoing a
// revocation (the token works again) or a creation (and its ID is handed out
// again). So, when the store has replicas, every write that creates,
// revokes, deletes, blocks or rotates is followed by WAIT 1 on the
// master, and answered only once a replica confirmed it; when none does in
// time the caller gets tokens.ErrNotReplicated (503: the change may or may
// not have been kept). Touches (last used) and the failure limiter's
// counters are not waited for: they are on the hot path and losing one
// costs nothing that matters.
//
// WAIT counts only the writes of the connection it runs on, and go-redis
// runs each script on whichever pooled connection is free; so the wait is
// a pipeline of a tiny write (INCR of the key "w") and WAIT on one
// connection. Replication keeps the order of writes, so a replica that has
// the INCR has every write made before it, the caller's included. A
// failover between the caller's write and the INCR would send the INCR to
// the new master, where WAIT could confirm it without the caller's write:
// that window is one round trip wide, against the whole replication lag
// before.
//
// Whether replicas exist is read from the master with each such write
// (INFO replication, one more round trip). A master with no replica
// acknowledges alone: nothing could be promoted in its place with less
// than it has, and after a failover the new master often has no replica
// for a while (Sentinel makes a returning old master a replica some 10 to
// 16 s after it is back), so writes work again within seconds of the
// promotion. But a master that had a replica within replicaMemory (the
// same master: same master_replid) and has none now refuses: its replica
// is cut off and could still be promoted without the write, the
// lagging-replica case of issue 21. Sentinel and Cluster promote only
// replicas cut off for less than about ten times their failure timeout, so
// a replica gone for good stops blocking writes after replicaMemory.

// replicaMemory is how long a master's replica, once seen, is expected.
const replicaMemory = time.Minute

// defaultReplicaWait bounds WAIT when the caller's context sets no store
// timeout.
const defaultReplicaWait = time.Second

var (
	// A replica counts once online: one still loading the master's
	// snapshot (Redis waits 5 s by default before sending it) confirms
	// nothing, and a failover could not promote it with more than the
	// master has.
	onlineReplica = regexp.MustCompile(`(?m)^slave\d+:.*state=online`)
	masterReplid  = regexp.MustCompile(`(?m)^master_replid:(\w+)\r?$`)
)

// replicaState remembers the last master seen with a replica.
type replicaState struct {
	mu     sync.Mutex
	replid string
	seenAt time.Time
}

// master answers a client of the node that holds the store's data: the
// Cluster master of the hash tag's slot, else the client itself.
func (s *Store) master(ctx context.Context) (redis.UniversalClient, error) {
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		return cc.MasterForKey(ctx, s.key("gen"))
	}
	return s.c, nil
}

// replicated answers err when the write failed; else, when the master has
// a replica or had one lately, waits until one has the write, answering
// tokens.ErrNotReplicated when none confirms it in time.
func (s *Store) replicated(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	wait := defaultReplicaWait
	if d, ok := tokens.StoreTimeout(ctx); ok {
		// Half: WAIT's own answer must still come within the budget.
		wait = d / 2
	}
	ctx, cancel := context.WithTimeout(ctx, 2*wait)
	defer cancel()
	m, err := s.master(ctx)
	if err != nil {
		return fmt.Errorf("wait for a replica: %w: %w", tokens.ErrNotReplicated, wrap("find the master", err))
	}
	info, err := m.Info(ctx, "replication").Result()
	switch {
	case err != nil && unavailable(err):
		return fmt.Errorf("wait for a replica: %w: %w", tokens.ErrNotReplicated, wrap("info replication", err))
	case err != nil:
		// A Redis that will not say (a managed one may refuse INFO)
		// is used as it is; the README asks for INFO.
		return nil
	}
	replicas := len(onlineReplica.FindAllString(info, -1))
	var replid string
	if sm := masterReplid.FindStringSubmatch(info); sm != nil {
		replid = sm[1]
	}
	s.replicas.mu.Lock()
	if replicas > 0 {
		s.replicas.replid, s.replicas.seenAt = replid, time.Now()
	}
	cutOff := replicas == 0 && replid != "" && replid == s.replicas.replid && time.Since(s.replicas.seenAt) < replicaMemory
	s.replicas.mu.Unlock()
	switch {
	case cutOff:
		return fmt.Errorf("wait for a replica: %w: the master's replica is cut off", tokens.ErrNotReplicated)
	case replicas == 0:
		return nil
	}
	pipe := m.Pipeline()
	pipe.Incr(ctx, s.key("w"))
	n := pipe.Do(ctx, "WAIT", 1, max(wait.Milliseconds(), 1))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("wait for a replica: %w: %w", tokens.ErrNotReplicated, wrap("wait", err))
	}
	if got, err := n.Int64(); err != nil || got < 1 {
		return fmt.Errorf("wait for a replica: %w: %w", tokens.ErrNotReplicated, tokens.ErrUnavailable)
	}
	return nil
}

// ackReplicated is deferred by the writes that must reach a replica
// before they are acknowledged: it replaces a nil *err by what replicated
// answers.
func (s *Store) ackReplicated(ctx context.Context, err *error) {
	if *err == nil {
		*err = s.replicated(ctx, nil)
	}
}

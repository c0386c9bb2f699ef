package redisstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
// promotion. But a master that had a replica within replicaMemory and has
// none now refuses: its replica is cut off and could still be promoted
// without the write, the lagging-replica case of issue 21. That a master
// had one is kept in Redis itself, not in a process's memory, so a server
// that starts after the cut, another replica of the server, or one that
// made no write lately knows it too: the key "replicated" holds the
// master's master_replid while it has an online replica, written with each
// waited-for write and every watchEvery by every server process
// (watchReplicas), and expiring replicaMemory after the replica was last
// seen. A promoted replica has a replication ID of its own, so a marker it
// inherited names another master and does not block it. Sentinel and
// Cluster promote only replicas cut off for less than about ten times
// their failure timeout (down-after-milliseconds, cluster-node-timeout;
// 30 s and 15 s by default), so a replica gone for good stops blocking
// writes after replicaMemory.

// replicaMemory is how long a master's replica, once seen, is expected:
// longer than Sentinel or Cluster, at their defaults, would still promote
// a replica cut off since.
const replicaMemory = 10 * time.Minute

// watchEvery is how often each server process records that the master
// has a replica.
const watchEvery = 10 * time.Second

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

// replicationOf reads the master's online replicas and replication ID.
func replicationOf(info string) (replicas int, replid string) {
	if sm := masterReplid.FindStringSubmatch(info); sm != nil {
		replid = sm[1]
	}
	return len(onlineReplica.FindAllString(info, -1)), replid
}

// watchReplicas records, every watchEvery until ctx ends, that the master
// has a replica (the "replicated" key), so that a cut that happens
// between two security writes is still known at the next one.
func (s *Store) watchReplicas(ctx context.Context) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		s.noteReplicas(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Store) noteReplicas(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, defaultReplicaWait)
	defer cancel()
	m, err := s.master(ctx)
	if err != nil {
		return
	}
	info, err := m.Info(ctx, "replication").Result()
	if err != nil {
		return
	}
	if n, replid := replicationOf(info); n > 0 && replid != "" {
		_ = m.Set(ctx, s.key("replicated"), replid, replicaMemory).Err()
	}
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
	replicas, replid := replicationOf(info)
	if replicas == 0 {
		if replid == "" {
			return nil
		}
		seen, err := m.Get(ctx, s.key("replicated")).Result()
		switch {
		case err == nil && seen == replid:
			return fmt.Errorf("wait for a replica: %w: the master's replica is cut off", tokens.ErrNotReplicated)
		case err != nil && !errors.Is(err, redis.Nil):
			return fmt.Errorf("wait for a replica: %w: %w", tokens.ErrNotReplicated, wrap("read the replica marker", err))
		}
		return nil
	}
	pipe := m.Pipeline()
	pipe.Set(ctx, s.key("replicated"), replid, replicaMemory)
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

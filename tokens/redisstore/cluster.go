package redisstore

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// reloadHook makes a ClusterClient read the slot map again whenever a
// command fails for want of a server. go-redis reloads it only on MOVED,
// ASK and READONLY, or every 10 s when used: after its master is killed,
// a slot's commands go on to the dead address until then, long after the
// cluster promoted a replica (15 to 41 s were measured). A reload is
// asynchronous and go-redis runs one at a time, 200 ms apart, so a burst of
// failures costs the cluster a few CLUSTER SLOTS, not one per request.
type reloadHook struct{ c *redis.ClusterClient }

func (h reloadHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.after(ctx, err)
		return err
	}
}

func (h reloadHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.after(ctx, err)
		return err
	}
}

func (h reloadHook) after(ctx context.Context, err error) {
	if err != nil && (unavailable(err) || errors.Is(err, context.DeadlineExceeded)) {
		h.c.ReloadState(ctx)
	}
}

// refuseClusterNode refuses a plain redis:// URL naming a node of a Redis
// Cluster: the client would follow no MOVED, and every command on a slot
// the node does not hold would fail with a bare "MOVED 14845 ...".
func refuseClusterNode(ctx context.Context, c redis.UniversalClient) error {
	if _, ok := c.(*redis.Client); !ok {
		return nil
	}
	info, err := c.Info(ctx, "cluster").Result()
	if err != nil {
		// A server that refuses INFO (a managed Redis may) is used as
		// it is; the first command on a foreign slot will say MOVED.
		return nil
	}
	if strings.Contains(info, "cluster_enabled:1") {
		return errors.New("redisstore: the Redis server is a node of a Redis Cluster; use a redis+cluster:// (or rediss+cluster://) URL naming one or more of its nodes")
	}
	return nil
}

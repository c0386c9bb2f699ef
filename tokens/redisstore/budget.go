package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// budgetHook bounds every round trip by the store timeout the caller put
// in its context (tokens.WithStoreTimeout). With ContextTimeoutEnabled on
// every client, go-redis turns the context's deadline into the socket's, so
// a hung Redis (SIGSTOP, a full network buffer) costs a request its budget
// and no more, instead of go-redis's read timeout times its retries.
type budgetHook struct{}

func (budgetHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (budgetHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		ctx, cancel := withBudget(ctx)
		defer cancel()
		return next(ctx, cmd)
	}
}

func (budgetHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ctx, cancel := withBudget(ctx)
		defer cancel()
		return next(ctx, cmds)
	}
}

func withBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := tokens.StoreTimeout(ctx); ok {
		return context.WithTimeout(ctx, d)
	}
	return ctx, func() {}
}

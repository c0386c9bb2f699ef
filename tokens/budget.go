package tokens

import (
	"context"
	"time"
)

type storeTimeoutKey struct{}

// WithStoreTimeout answers ctx carrying how long each round trip to a
// shared store made with it may wait for its answer, and nothing else: a
// deadline on the request's own context would cut short what the request
// does besides (a git pack streaming, a project's repository created on
// disk), yet a hung store must be answered 503 while the caller still
// waits. A hung store fails a request's first round trip, so the request
// is answered within about d.
func WithStoreTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, storeTimeoutKey{}, d)
}

// StoreTimeout answers the timeout WithStoreTimeout put in ctx.
func StoreTimeout(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(storeTimeoutKey{}).(time.Duration)
	return d, ok && d > 0
}

package main

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// maxReadinessWait bounds readiness's own wait: a load balancer's check
// should learn of a hung store within about two seconds whatever the
// request budget.
const maxReadinessWait = 2 * time.Second

// storeBudget gives every request its store budget (--store-timeout): each
// round trip to Redis made for it waits that long at most, so a hung Redis
// is answered 503 with Retry-After within about the budget rather than
// after go-redis's read timeout and retries. It bounds the store only, so
// a long git fetch is not cut short by it.
func (a *app) storeBudget(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(tokens.WithStoreTimeout(r.Context(), a.cfg.StoreTimeout)))
		return next(c)
	}
}

// readinessTimeout answers how long readiness waits for the store.
func (a *app) readinessTimeout() time.Duration {
	return min(a.cfg.StoreTimeout, maxReadinessWait)
}

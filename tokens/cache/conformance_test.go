package cache_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/cache"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
	"github.com/deploytokens/deploytokens/tokens/storetest"
)

// TestStore runs the conformance suite on the cache around the Redis
// store, as the server runs it with DEPLOYTOKENS_REDIS_CACHE_SIZE set:
// the decorator is a tokens.Store and must answer as one.
func TestStore(t *testing.T) {
	url := testenv.StartRedis(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) tokens.Store {
		s, err := redisstore.New(t.Context(), redisstore.Options{URL: url, Prefix: fmt.Sprintf("cached%d:", n.Add(1))})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		c := cache.New(s, cache.Options{Size: 1000})
		t.Cleanup(func() { _ = c.Close() })
		return c
	})
}

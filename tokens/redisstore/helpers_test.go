package redisstore_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
	"github.com/redis/go-redis/v9"
)

// commandCalls answers the commands the server ran since its stats were
// last reset, by INFO commandstats (which counts the commands scripts run
// too), leaving out what is no store work of the test's: INFO itself
// (this call, and the store's replica watch), and what a pooled
// connection opened meanwhile sends (HELLO, CLIENT SETINFO, PING).
func commandCalls(t *testing.T, c redis.UniversalClient) int64 {
	t.Helper()
	info, err := c.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var calls int64
	for line := range strings.SplitSeq(info, "\n") {
		name, stats, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		switch name {
		case "info", "hello", "client|setinfo", "ping", "select", "auth":
			continue
		}
		n, err := strconv.ParseInt(stats[:strings.IndexByte(stats, ',')], 10, 64)
		if err != nil {
			t.Fatalf("commandstats %q: %v", line, err)
		}
		calls += n
	}
	return calls
}

// reopenable starts a redis-server of the test's own and answers a plain
// client of it, to write or delete keys as an older version left them,
// and open, which opens the store on it with New (as the server does,
// fills included), closed when the test ends.
func reopenable(t *testing.T) (*redis.Client, func() *redisstore.Store) {
	t.Helper()
	srv := testenv.StartRedisProcess(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c, func() *redisstore.Store {
		s, err := redisstore.New(t.Context(), redisstore.Options{URL: srv.URL()})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

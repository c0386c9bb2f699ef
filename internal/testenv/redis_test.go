package testenv_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

func TestRedisRestartKeepsData(t *testing.T) {
	srv := testenv.StartRedisProcess(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	srv.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded while the server was stopped")
	}
	srv.Stop() // stopping twice is harmless

	srv.Start()
	c2 := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c2.Close() })
	if got, err := c2.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("GET after restart = %q, %v; want the value written before the stop", got, err)
	}
}

func TestStartRedisURL(t *testing.T) {
	o, err := redis.ParseURL(testenv.StartRedis(t))
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Errorf("PING: %v", err)
	}
}

package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
	"github.com/deploytokens/deploytokens/tokens/storetest"
)

var _ storetest.Dumper = (*redisstore.Store)(nil)

// startStore starts a redis-server of its own and answers a store on it
// with default options, closed after the test, and its client, for hooks.
func startStore(tb testing.TB) (*redisstore.Store, *redis.Client) {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: testenv.StartRedisProcess(tb).Addr()})
	s := redisstore.NewFromClient(c, redisstore.Options{})
	tb.Cleanup(func() { _ = s.Close() })
	return s, c
}

func TestDurabilityWarning(t *testing.T) {
	s, c := startStore(t)
	ctx := t.Context()
	// testenv's redis-server: appendonly yes, appendfsync always.
	if w, err := s.DurabilityWarning(ctx); err != nil || w != "" {
		t.Fatalf("always-synced append-only file: %q, %v", w, err)
	}
	if err := c.ConfigSet(ctx, "appendfsync", "everysec").Err(); err != nil {
		t.Fatal(err)
	}
	if w, _ := s.DurabilityWarning(ctx); !strings.Contains(w, `"everysec"`) {
		t.Errorf("appendfsync everysec: %q", w)
	}
	if err := c.ConfigSet(ctx, "appendonly", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if w, _ := s.DurabilityWarning(ctx); !strings.Contains(w, "appendonly no") {
		t.Errorf("appendonly no: %q", w)
	}
}

// TestStore runs the conformance suite on one redis-server, giving every
// subtest its own key prefix.
func TestStore(t *testing.T) {
	url := testenv.StartRedis(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) tokens.Store {
		s, err := redisstore.New(t.Context(), redisstore.Options{URL: url, Prefix: fmt.Sprintf("test%d:", n.Add(1))})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestUnavailable(t *testing.T) {
	srv := testenv.StartRedisProcess(t)
	// Fewer retries than the defaults keep the test short; the errors and
	// the pool's recovery are the same.
	s := redisstore.NewFromClient(redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1}), redisstore.Options{})
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	u := tokens.User{Username: "survivor"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	ops := []struct {
		name string
		op   func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"User", func() error { _, err := s.User(ctx, u.ID); return err }},
		{"UserByUsername", func() error { _, err := s.UserByUsername(ctx, "survivor"); return err }},
		{"DeployTokenByDigest", func() error { _, _, err := s.DeployTokenByDigest(ctx, []byte("digest")); return err }},
		{"DeployTokenForAuth", func() error {
			_, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: []byte("digest"), Addr: "192.0.2.1"})
			return err
		}},
		{"CreateUser", func() error { return s.CreateUser(ctx, &tokens.User{Username: "new"}) }},
		{"Incr", func() error { _, err := s.Incr(ctx, "failures", time.Minute); return err }},
	}

	srv.Stop()
	for _, tt := range ops {
		t.Run("down/"+tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, tokens.ErrUnavailable) {
				t.Errorf("error %v, want ErrUnavailable", err)
			}
		})
	}
	_, err := redisstore.New(ctx, redisstore.Options{URL: srv.URL() + "?max_retries=-1"})
	if !errors.Is(err, tokens.ErrUnavailable) {
		t.Errorf("New while down: error %v, want ErrUnavailable", err)
	}

	srv.Start()
	// The pool's connections died with the server, and after repeated dial
	// failures the pool probes in the background (once a second) before it
	// dials for callers again; the store must come back without help.
	deadline := time.Now().Add(10 * time.Second)
	for err := s.Ping(ctx); err != nil; err = s.Ping(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tt := range ops {
		t.Run("up/"+tt.name, func(t *testing.T) {
			if err := tt.op(); err != nil && !errors.Is(err, tokens.ErrNotFound) {
				t.Errorf("after restart: %v", err)
			}
		})
	}
	got, err := s.UserByUsername(ctx, "survivor")
	if err != nil || got.ID != u.ID {
		t.Errorf("UserByUsername after restart = %+v, %v; want the user written before the stop", got, err)
	}
}

// TestLookupsTakeOneRoundTrip pins the hot path of authentication to one
// command per lookup.
func TestLookupsTakeOneRoundTrip(t *testing.T) {
	s, c := startStore(t)
	ctx := t.Context()
	u := tokens.User{Username: "u"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	pat := tokens.PersonalAccessToken{UserID: u.ID, Digest: []byte("pat digest")}
	if err := s.CreatePAT(ctx, &pat); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{PathWithNamespace: "g/p"}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	d := tokens.DeployToken{ProjectID: p.ID, Digest: []byte("deploy token digest")}
	if err := s.CreateDeployToken(ctx, &d); err != nil {
		t.Fatal(err)
	}

	h := &testenv.RoundTrips{}
	c.AddHook(h)
	tests := []struct {
		name   string
		lookup func() error
	}{
		{"DeployTokenByDigest", func() error { _, _, err := s.DeployTokenByDigest(ctx, d.Digest); return err }},
		{"PATByDigest", func() error { _, _, err := s.PATByDigest(ctx, pat.Digest); return err }},
		{"DeployTokenByDigest unknown", func() error {
			_, _, err := s.DeployTokenByDigest(ctx, []byte("unknown"))
			if errors.Is(err, tokens.ErrNotFound) {
				return nil
			}
			return err
		}},
		{"PATForAuth", func() error {
			_, err := s.PATForAuth(ctx, tokens.PATAuthQuery{Digest: pat.Digest, Addr: "192.0.2.1"})
			return err
		}},
		{"ProjectsByPaths", func() error {
			_, err := s.ProjectsByPaths(ctx, []string{"g/p/a/b", "g/p/a", "g/p", "x/y/z", "x/y"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The first call on a server may load the script.
			if err := tt.lookup(); err != nil {
				t.Fatal(err)
			}
			h.Reset()
			if err := tt.lookup(); err != nil {
				t.Fatal(err)
			}
			if n := h.N(); n != 1 {
				t.Errorf("lookup sent %d commands, want 1", n)
			}
		})
	}
}

// TestNestedProjectsOnOlderData: a database written before the sorted set
// of project paths existed gets it filled by New, so a project above an
// older one is still refused by the store itself; and a path left in the
// set by a project deleted without it (by an older replica) is dropped
// when met, not believed.
func TestNestedProjectsOnOlderData(t *testing.T) {
	c, open := reopenable(t)
	ctx := t.Context()
	s := open()
	owner := tokens.User{Username: "owner", CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, &owner); err != nil {
		t.Fatal(err)
	}
	create := func(s *redisstore.Store, path string) error {
		p := tokens.Project{Path: path[strings.LastIndex(path, "/")+1:], PathWithNamespace: path, Visibility: tokens.Private}
		return s.CreateProject(ctx, &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner})
	}
	for _, path := range []string{"Old/Group/App", "old/other"} {
		if err := create(s, path); err != nil {
			t.Fatal(err)
		}
	}
	// What an older version left: no paths set, no marker.
	pz := redisstore.DefaultPrefix + "{dt}:pz"
	if n, err := c.Del(ctx, pz, pz+":filled").Result(); err != nil || n != 2 {
		t.Fatalf("DEL %s and its marker: %d, %v; want both deleted", pz, n, err)
	}
	s = open()
	if err := create(s, "old/group"); !errors.Is(err, tokens.ErrNested) {
		t.Errorf("CreateProject(old/group) above an older project: %v, want ErrNested", err)
	}
	// A project an older replica deleted without taking its path out.
	if err := c.ZAdd(ctx, pz, redis.Z{Member: "gone/a/b"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := create(s, "gone/a"); err != nil {
		t.Errorf("CreateProject(gone/a) above a deleted project's path: %v", err)
	}
	got, err := c.ZRange(ctx, pz, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gone/a", "old/group/app", "old/other"}; !slices.Equal(got, want) {
		t.Errorf("paths set = %q, want %q", got, want)
	}
}

func TestDeadPathsMigration(t *testing.T) {
	url := testenv.StartRedis(t)
	open := func(t *testing.T) tokens.Store {
		s, err := redisstore.New(t.Context(), redisstore.Options{URL: url, Prefix: "migrate:"})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	storetest.RunDeadPathsMigration(t, open, func(t *testing.T, s tokens.Store) tokens.Store { _ = s.Close(); return open(t) })
}

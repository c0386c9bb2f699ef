package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/cache"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// countingSource counts the lookups that reach the Source, not the reads
// of the generation.
type countingSource struct {
	cache.Source
	n atomic.Int64
}

func (c *countingSource) DeployTokenForAuth(ctx context.Context, q tokens.DeployTokenQuery) (tokens.DeployTokenAuth, error) {
	c.n.Add(1)
	return c.Source.DeployTokenForAuth(ctx, q)
}

type cacheEnv struct {
	srv     *testenv.RedisServer
	cached  *cache.Store      // a replica with the cache on
	other   *redisstore.Store // another replica, writing, without it
	source  *countingSource   // the cached replica's Redis store
	project tokens.Project
}

func newCacheEnv(t *testing.T, size int) *cacheEnv {
	t.Helper()
	e := &cacheEnv{srv: testenv.StartRedisProcess(t)}
	c := redis.NewClient(&redis.Options{Addr: e.srv.Addr(), MaxRetries: -1, DialerRetries: 1})
	e.source = &countingSource{Source: redisstore.NewFromClient(c, redisstore.Options{})}
	e.cached = cache.New(e.source, cache.Options{Size: size})
	e.other = redisstore.NewFromClient(redis.NewClient(&redis.Options{Addr: e.srv.Addr()}), redisstore.Options{})
	t.Cleanup(func() { _ = e.cached.Close(); _ = e.other.Close() })
	ctx := t.Context()
	u := tokens.User{Username: "u"}
	if err := e.other.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	e.project = tokens.Project{PathWithNamespace: "g/app", Visibility: tokens.Private}
	if err := e.other.CreateProject(ctx, &e.project, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *cacheEnv) token(t *testing.T, name string) tokens.DeployToken {
	t.Helper()
	d := tokens.DeployToken{ProjectID: e.project.ID, Name: name, Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte("digest of " + name)}
	if err := e.other.CreateDeployToken(t.Context(), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// lookup is the hot path's call on the caching replica for d from addr,
// answering how many lookups reached Redis.
func (e *cacheEnv) lookup(t *testing.T, addr string, d tokens.DeployToken) (tokens.DeployTokenAuth, error, int64) {
	t.Helper()
	before := e.source.n.Load()
	a, err := e.cached.DeployTokenForAuth(t.Context(), tokens.DeployTokenQuery{Digest: d.Digest, Username: d.Username, Addr: addr})
	return a, err, e.source.n.Load() - before
}

// eventually asks until ok answers true, failing after a second: the bound
// the cache promises for a change made through another replica.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > time.Second {
			t.Fatalf("%s: not seen within a second", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// warm looks d up until the cache answers it without Redis.
func (e *cacheEnv) warm(t *testing.T, addr string, d tokens.DeployToken) {
	t.Helper()
	eventually(t, "cached", func() bool {
		_, err, n := e.lookup(t, addr, d)
		if err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

func TestCacheAnswersWithoutRedis(t *testing.T) {
	e := newCacheEnv(t, 100)
	d := e.token(t, "a")
	e.warm(t, "1.2.3.4", d)
	a, err, n := e.lookup(t, "1.2.3.4", d)
	if n != 0 || err != nil || !a.Found || a.Token.ID != d.ID || a.Banned || a.Ban != nil {
		t.Fatalf("cached lookup: %d lookups in Redis, token %d (found %v), %v; ban %v %q", n, a.Token.ID, a.Found, err, a.Banned, a.Ban)
	}
	if hits, misses := e.cached.Stats(); hits == 0 || misses == 0 {
		t.Errorf("Stats() = %d hits, %d misses; want both counted", hits, misses)
	}
	// The ban of an address not read before, and an unknown digest, go
	// to Redis.
	if _, _, n := e.lookup(t, "5.6.7.8", d); n != 1 {
		t.Errorf("another address: %d lookups in Redis, want 1", n)
	}
	for range 2 {
		if a, err, n := e.lookup(t, "1.2.3.4", tokens.DeployToken{Digest: []byte("unknown")}); n != 1 || err != nil || a.Found {
			t.Errorf("unknown digest: %d lookups in Redis, found %v, %v", n, a.Found, err)
		}
	}
}

func TestCacheSeesOtherReplicasWrites(t *testing.T) {
	e := newCacheEnv(t, 100)
	ctx := t.Context()
	revoked, kept := e.token(t, "revoked"), e.token(t, "kept")
	ban := tokens.BanKey("1.2.3.4")
	for _, d := range []tokens.DeployToken{revoked, kept} {
		e.warm(t, "1.2.3.4", d)
	}
	if err := e.other.RevokeDeployToken(ctx, e.project.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revocation", func() bool {
		a, err, _ := e.lookup(t, "1.2.3.4", revoked)
		return err == nil && a.Token.Revoked
	})

	e.warm(t, "1.2.3.4", kept)
	if err := e.other.Create(ctx, ban, []byte("9999999999"), time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ban", func() bool {
		a, err, _ := e.lookup(t, "1.2.3.4", kept)
		return err == nil && a.Banned && string(a.Ban) == "9999999999"
	})
	// A banned address's token is read from Redis every time, so that
	// its refusal costs what any other refusal costs (issue 20, finding 6).
	for range 2 {
		if a, err, n := e.lookup(t, "1.2.3.4", kept); n != 1 || err != nil || !a.Banned {
			t.Fatalf("banned address: %d lookups in Redis, banned %v, %v; want 1, banned", n, a.Banned, err)
		}
	}
	if err := e.other.Delete(ctx, ban); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unban", func() bool {
		a, err, _ := e.lookup(t, "1.2.3.4", kept)
		return err == nil && !a.Banned
	})
	if err := e.other.Create(ctx, ban, []byte("9999999999"), time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ban again", func() bool {
		a, err, _ := e.lookup(t, "1.2.3.4", kept)
		return err == nil && a.Banned && string(a.Ban) == "9999999999"
	})
	if v, err := e.other.Take(ctx, ban); err != nil || string(v) != "9999999999" {
		t.Fatalf("Take = %q, %v", v, err)
	}
	eventually(t, "unban by take", func() bool {
		a, err, _ := e.lookup(t, "1.2.3.4", kept)
		return err == nil && !a.Banned
	})

	e.warm(t, "1.2.3.4", kept)
	if err := e.other.DeleteProject(ctx, e.project.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "project deletion", func() bool {
		a, err, _ := e.lookup(t, "1.2.3.4", kept)
		return err == nil && !a.Found
	})
}

// TestCacheWritesThatChangeNothing: a write that fails, and writes that
// change nothing a cache holds, leave the generation alone, so other
// replicas keep their caches.
func TestCacheWritesThatChangeNothing(t *testing.T) {
	e := newCacheEnv(t, 100)
	ctx := t.Context()
	raw := redis.NewClient(&redis.Options{Addr: e.srv.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	gen := func() string { return raw.Get(ctx, redisstore.DefaultPrefix+"{dt}:gen").Val() }
	d := e.token(t, "a")
	if err := e.other.Create(ctx, tokens.BanKey("1.2.3.4"), []byte("1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	before := gen()
	if before == "" {
		t.Fatal("creating a ban set no generation")
	}
	writes := []struct {
		name string
		do   func() error
	}{
		{"revoke in another project", func() error { return e.other.RevokeDeployToken(ctx, e.project.ID+1, d.ID) }},
		{"create a ban that exists", func() error { return e.other.Create(ctx, tokens.BanKey("1.2.3.4"), []byte("2"), time.Hour) }},
		{"swap a ban that differs", func() error {
			return e.other.CompareAndSwap(ctx, tokens.BanKey("1.2.3.4"), []byte("x"), []byte("3"))
		}},
		{"delete an absent ban", func() error { return e.other.Delete(ctx, tokens.BanKey("5.6.7.8")) }},
		{"take an absent ban", func() error { _, err := e.other.Take(ctx, tokens.BanKey("5.6.7.8")); return err }},
		{"delete a missing project", func() error { return e.other.DeleteProject(ctx, e.project.ID+1) }},
		{"a key nothing caches", func() error { return e.other.Create(ctx, tokens.SessionKey([]byte("x")), []byte("v"), time.Hour) }},
		{"a new token", func() error { e.token(t, "b"); return nil }},
		{"a last use", func() error { return e.other.TouchDeployToken(ctx, d.ID, time.Now()) }},
		{"a failure counter", func() error { _, err := e.other.Incr(ctx, tokens.FailKey("1.2.3.4"), time.Minute); return err }},
	}
	for _, w := range writes {
		_ = w.do() // some fail on purpose
		if g := gen(); g != before {
			t.Errorf("%s: set a new generation", w.name)
		}
	}
	if err := e.other.RevokeDeployToken(ctx, e.project.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g == before {
		t.Error("a revocation set no new generation")
	}
}

// TestCacheFailsClosed: when Redis stops answering, the cache stops
// answering too, so a revocation it cannot learn of is never outlived.
func TestCacheFailsClosed(t *testing.T) {
	e := newCacheEnv(t, 100)
	d := e.token(t, "a")
	e.warm(t, "1.2.3.4", d)
	e.srv.Stop()
	eventually(t, "outage", func() bool {
		_, err, _ := e.lookup(t, "1.2.3.4", d)
		return errors.Is(err, tokens.ErrUnavailable)
	})
	e.srv.Start()
	e.warm(t, "1.2.3.4", d)
}

// TestCacheTouch: a written last use is seen in the cached token, so the
// next use does not write it again.
func TestCacheTouch(t *testing.T) {
	e := newCacheEnv(t, 100)
	d := e.token(t, "a")
	e.warm(t, "1.2.3.4", d)
	at := time.Unix(1_800_000_000, 0).UTC()
	if err := e.cached.TouchDeployToken(t.Context(), d.ID, at); err != nil {
		t.Fatal(err)
	}
	a, _, n := e.lookup(t, "1.2.3.4", d)
	if n != 0 || a.Token.LastUsedAt == nil || !a.Token.LastUsedAt.Equal(at) {
		t.Fatalf("after touch: %d lookups in Redis, last use %v", n, a.Token.LastUsedAt)
	}
}

// TestCacheBounded: more tokens than the cache holds are all answered
// right, some from Redis.
func TestCacheBounded(t *testing.T) {
	e := newCacheEnv(t, 3)
	var ds []tokens.DeployToken
	for i := range 10 {
		ds = append(ds, e.token(t, fmt.Sprint(i)))
	}
	e.warm(t, "1.2.3.4", ds[0])
	for range 3 {
		for _, d := range ds {
			a, err, _ := e.lookup(t, "1.2.3.4", d)
			if err != nil || a.Token.ID != d.ID {
				t.Fatalf("token %d: got %d, %v", d.ID, a.Token.ID, err)
			}
			if n, _ := cache.Len(e.cached); n > 3 {
				t.Fatalf("the cache holds %d tokens, at most 3 allowed", n)
			}
		}
	}
}

// TestCacheOwnWrites: the replica that revokes a token refuses it on the
// very next lookup.
func TestCacheOwnWrites(t *testing.T) {
	e := newCacheEnv(t, 100)
	d := e.token(t, "a")
	e.warm(t, "1.2.3.4", d)
	if err := e.cached.RevokeDeployToken(t.Context(), e.project.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	if a, err, _ := e.lookup(t, "1.2.3.4", d); err != nil || !a.Token.Revoked {
		t.Fatalf("next lookup on the revoking replica: revoked=%v, %v", a.Token.Revoked, err)
	}
	// And a ban it writes is seen on the very next lookup too.
	other := e.token(t, "b")
	e.warm(t, "5.6.7.8", other)
	if err := e.cached.Create(t.Context(), tokens.BanKey("5.6.7.8"), []byte("9999999999"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if a, err, n := e.lookup(t, "5.6.7.8", other); err != nil || !a.Banned || n != 1 {
		t.Fatalf("next lookup after a ban on this replica: banned=%v, %v, %d lookups in Redis", a.Banned, err, n)
	}
}

// TestCacheKeepsOnlyUsableTokens: a revoked or expired token is looked up in
// Redis every time, as a secret that matches nothing is, so a refusal takes
// as long whatever its cause; a token that expires while cached leaves it.
func TestCacheKeepsOnlyUsableTokens(t *testing.T) {
	e := newCacheEnv(t, 100)
	ctx := t.Context()
	past := time.Now().Add(-time.Hour)
	expired := tokens.DeployToken{ProjectID: e.project.ID, Name: "old", Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte("digest of old"), ExpiresAt: &past}
	if err := e.other.CreateDeployToken(ctx, &expired); err != nil {
		t.Fatal(err)
	}
	revoked := e.token(t, "revoked")
	if err := e.other.RevokeDeployToken(ctx, e.project.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(300 * time.Millisecond)
	expiring := tokens.DeployToken{ProjectID: e.project.ID, Name: "soon", Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte("digest of soon"), ExpiresAt: &soon}
	if err := e.other.CreateDeployToken(ctx, &expiring); err != nil {
		t.Fatal(err)
	}
	e.warm(t, "1.2.3.4", expiring)
	for _, d := range []tokens.DeployToken{expired, revoked} {
		for i := range 3 {
			if a, err, n := e.lookup(t, "1.2.3.4", d); err != nil || a.Token.ID != d.ID || n != 1 {
				t.Errorf("%s, lookup %d: token %d, %v, %d lookups in Redis; want it read from Redis", d.Name, i+1, a.Token.ID, err, n)
			}
		}
	}
	time.Sleep(time.Until(soon))
	if _, err, n := e.lookup(t, "1.2.3.4", expiring); err != nil || n != 1 {
		t.Errorf("a token that expired while cached: %v, %d lookups in Redis; want it read from Redis", err, n)
	}
}

// TestCacheAnswersOnlyItsUsername: a cached token sent with another
// username is read from Redis, as an unknown secret is, so the refusal that
// follows takes as long as one for a guess.
func TestCacheAnswersOnlyItsUsername(t *testing.T) {
	e := newCacheEnv(t, 100)
	d := e.token(t, "a")
	e.warm(t, "1.2.3.4", d)
	for i := range 3 {
		if _, err, n := e.lookup(t, "1.2.3.4", tokens.DeployToken{Digest: d.Digest, Username: "someone-else"}); err != nil || n != 1 {
			t.Errorf("lookup %d with another username: %v, %d lookups in Redis; want it read from Redis", i+1, err, n)
		}
	}
	if _, err, n := e.lookup(t, "1.2.3.4", d); err != nil || n != 0 {
		t.Errorf("with its own username: %v, %d lookups in Redis; want it answered from memory", err, n)
	}
}

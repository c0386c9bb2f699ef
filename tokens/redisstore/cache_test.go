package redisstore_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

type cacheEnv struct {
	srv     *testenv.RedisServer
	cached  *redisstore.Store   // a replica with the cache on
	other   *redisstore.Store   // another replica, writing
	scripts *testenv.RoundTrips // the lookups' scripts, not the reads of the generation
	project tokens.Project
}

func newCacheEnv(t *testing.T, size int) *cacheEnv {
	t.Helper()
	e := &cacheEnv{srv: testenv.StartRedisProcess(t), scripts: &testenv.RoundTrips{Only: []string{"evalsha", "eval"}}}
	opts := redisstore.Options{CachedKV: []string{"ban:"}}
	c := redis.NewClient(&redis.Options{Addr: e.srv.Addr(), MaxRetries: -1, DialerRetries: 1})
	c.AddHook(e.scripts)
	cached := opts
	cached.CacheSize = size
	e.cached = redisstore.NewFromClient(c, cached)
	e.other = redisstore.NewFromClient(redis.NewClient(&redis.Options{Addr: e.srv.Addr()}), opts)
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

// lookup is the hot path's call on the caching replica, answering how many
// scripts it ran.
func (e *cacheEnv) lookup(t *testing.T, key string, d tokens.DeployToken) (tokens.DeployToken, []byte, error, error, int64) {
	t.Helper()
	before := e.scripts.N()
	v, vErr, tok, _, err := e.cached.DeployTokenByDigestAndGet(t.Context(), key, d.Digest, d.Username)
	return tok, v, vErr, err, e.scripts.N() - before
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

// warm looks d up until the cache answers it without a script.
func (e *cacheEnv) warm(t *testing.T, key string, d tokens.DeployToken) {
	t.Helper()
	eventually(t, "cached", func() bool {
		_, _, _, err, n := e.lookup(t, key, d)
		if err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

func TestCacheAnswersWithoutRedis(t *testing.T) {
	e := newCacheEnv(t, 100)
	d := e.token(t, "a")
	e.warm(t, "ban:1.2.3.4", d)
	hits, misses := e.cached.Stats()
	tok, v, vErr, err, n := e.lookup(t, "ban:1.2.3.4", d)
	if n != 0 || err != nil || tok.ID != d.ID || v != nil || !errors.Is(vErr, tokens.ErrNotFound) {
		t.Fatalf("cached lookup: %d scripts, token %d, %v; value %q, %v", n, tok.ID, err, v, vErr)
	}
	if h, m := e.cached.Stats(); h != hits+1 || m != misses {
		t.Errorf("cached lookup: Stats() went from %d hits, %d misses to %d, %d; want one more hit", hits, misses, h, m)
	}
	defer func() {
		// The uncached key is not the cache's to count; the two unknown
		// digests are misses.
		if h, m := e.cached.Stats(); h != hits+1 || m != misses+2 {
			t.Errorf("Stats() = %d hits, %d misses; want %d, %d", h, m, hits+1, misses+2)
		}
	}()
	// A key outside CachedKV, and an unknown digest, always go to Redis.
	if _, _, _, _, n := e.lookup(t, "session:x", d); n != 1 {
		t.Errorf("uncached key: %d scripts, want 1", n)
	}
	for range 2 {
		if _, _, _, err, n := e.lookup(t, "ban:1.2.3.4", tokens.DeployToken{Digest: []byte("unknown")}); n != 1 || !errors.Is(err, tokens.ErrNotFound) {
			t.Errorf("unknown digest: %d scripts, %v", n, err)
		}
	}
}

func TestCacheSeesOtherReplicasWrites(t *testing.T) {
	e := newCacheEnv(t, 100)
	ctx := t.Context()
	revoked, kept := e.token(t, "revoked"), e.token(t, "kept")
	for _, d := range []tokens.DeployToken{revoked, kept} {
		e.warm(t, "ban:1.2.3.4", d)
	}
	if err := e.other.RevokeDeployToken(ctx, e.project.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revocation", func() bool {
		tok, _, _, err, _ := e.lookup(t, "ban:1.2.3.4", revoked)
		return err == nil && tok.Revoked
	})

	e.warm(t, "ban:1.2.3.4", kept)
	if err := e.other.Create(ctx, "ban:1.2.3.4", []byte("9999999999"), time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ban", func() bool {
		_, v, vErr, _, _ := e.lookup(t, "ban:1.2.3.4", kept)
		return vErr == nil && string(v) == "9999999999"
	})
	e.warm(t, "ban:1.2.3.4", kept)
	if err := e.other.Delete(ctx, "ban:1.2.3.4"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unban", func() bool {
		_, _, vErr, _, _ := e.lookup(t, "ban:1.2.3.4", kept)
		return errors.Is(vErr, tokens.ErrNotFound)
	})
	if err := e.other.Create(ctx, "ban:1.2.3.4", []byte("9999999999"), time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ban again", func() bool {
		_, v, vErr, _, _ := e.lookup(t, "ban:1.2.3.4", kept)
		return vErr == nil && string(v) == "9999999999"
	})
	if v, err := e.other.Take(ctx, "ban:1.2.3.4"); err != nil || string(v) != "9999999999" {
		t.Fatalf("Take = %q, %v", v, err)
	}
	eventually(t, "unban by take", func() bool {
		_, _, vErr, _, _ := e.lookup(t, "ban:1.2.3.4", kept)
		return errors.Is(vErr, tokens.ErrNotFound)
	})

	e.warm(t, "ban:1.2.3.4", kept)
	if err := e.other.DeleteProject(ctx, e.project.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "project deletion", func() bool {
		_, _, _, err, _ := e.lookup(t, "ban:1.2.3.4", kept)
		return errors.Is(err, tokens.ErrNotFound)
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
	if err := e.other.Create(ctx, "ban:1.2.3.4", []byte("1"), time.Hour); err != nil {
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
		{"create a ban that exists", func() error { return e.other.Create(ctx, "ban:1.2.3.4", []byte("2"), time.Hour) }},
		{"swap a ban that differs", func() error { return e.other.CompareAndSwap(ctx, "ban:1.2.3.4", []byte("x"), []byte("3")) }},
		{"delete an absent ban", func() error { return e.other.Delete(ctx, "ban:5.6.7.8") }},
		{"take an absent ban", func() error { _, err := e.other.Take(ctx, "ban:5.6.7.8"); return err }},
		{"delete a missing project", func() error { return e.other.DeleteProject(ctx, e.project.ID+1) }},
		{"a key nothing caches", func() error { return e.other.Create(ctx, "session:x", []byte("v"), time.Hour) }},
		{"a new token", func() error { e.token(t, "b"); return nil }},
		{"a last use", func() error { return e.other.TouchDeployToken(ctx, d.ID, time.Now()) }},
		{"a failure counter", func() error { _, err := e.other.Incr(ctx, "fail:1.2.3.4", time.Minute); return err }},
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
	e.warm(t, "ban:1.2.3.4", d)
	e.srv.Stop()
	eventually(t, "outage", func() bool {
		_, _, _, err, _ := e.lookup(t, "ban:1.2.3.4", d)
		return errors.Is(err, tokens.ErrUnavailable)
	})
	e.srv.Start()
	e.warm(t, "ban:1.2.3.4", d)
}

// TestCacheTouch: a written last use is seen in the cached token, so the
// next use does not write it again.
func TestCacheTouch(t *testing.T) {
	e := newCacheEnv(t, 100)
	d := e.token(t, "a")
	e.warm(t, "ban:1.2.3.4", d)
	at := time.Unix(1_800_000_000, 0).UTC()
	if err := e.cached.TouchDeployToken(t.Context(), d.ID, at); err != nil {
		t.Fatal(err)
	}
	tok, _, _, _, n := e.lookup(t, "ban:1.2.3.4", d)
	if n != 0 || tok.LastUsedAt == nil || !tok.LastUsedAt.Equal(at) {
		t.Fatalf("after touch: %d scripts, last use %v", n, tok.LastUsedAt)
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
	e.warm(t, "ban:1.2.3.4", ds[0])
	for range 3 {
		for _, d := range ds {
			tok, _, _, err, _ := e.lookup(t, "ban:1.2.3.4", d)
			if err != nil || tok.ID != d.ID {
				t.Fatalf("token %d: got %d, %v", d.ID, tok.ID, err)
			}
			if n, _ := redisstore.CacheLen(e.cached); n > 3 {
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
	e.warm(t, "ban:1.2.3.4", d)
	if err := e.cached.RevokeDeployToken(t.Context(), e.project.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	if tok, _, _, err, _ := e.lookup(t, "ban:1.2.3.4", d); err != nil || !tok.Revoked {
		t.Fatalf("next lookup on the revoking replica: revoked=%v, %v", tok.Revoked, err)
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
	e.warm(t, "ban:1.2.3.4", expiring)
	for _, d := range []tokens.DeployToken{expired, revoked} {
		for i := range 3 {
			if tok, _, _, err, n := e.lookup(t, "ban:1.2.3.4", d); err != nil || tok.ID != d.ID || n != 1 {
				t.Errorf("%s, lookup %d: token %d, %v, %d scripts; want it read from Redis", d.Name, i+1, tok.ID, err, n)
			}
		}
	}
	time.Sleep(time.Until(soon))
	if _, _, _, err, n := e.lookup(t, "ban:1.2.3.4", expiring); err != nil || n != 1 {
		t.Errorf("a token that expired while cached: %v, %d scripts; want it read from Redis", err, n)
	}
}

// TestCacheAnswersOnlyItsUsername: a cached token sent with another
// username is read from Redis, as an unknown secret is, so the refusal that
// follows takes as long as one for a guess.
func TestCacheAnswersOnlyItsUsername(t *testing.T) {
	e := newCacheEnv(t, 100)
	d := e.token(t, "a")
	e.warm(t, "ban:1.2.3.4", d)
	for i := range 3 {
		if _, _, _, err, n := e.lookup(t, "ban:1.2.3.4", tokens.DeployToken{Digest: d.Digest, Username: "someone-else"}); err != nil || n != 1 {
			t.Errorf("lookup %d with another username: %v, %d scripts; want it read from Redis", i+1, err, n)
		}
	}
	if _, _, _, err, n := e.lookup(t, "ban:1.2.3.4", d); err != nil || n != 0 {
		t.Errorf("with its own username: %v, %d scripts; want it answered from memory", err, n)
	}
}

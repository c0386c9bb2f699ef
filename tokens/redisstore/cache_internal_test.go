package redisstore

import (
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestHotCacheRules drives the cache's rules with a fake clock: what it
// answers, for how long, and which reads it refuses to keep.
func TestHotCacheRules(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newHotCache(100, func() time.Time { return now })
	tok := func(id int64) cachedToken { return cachedToken{t: tokens.DeployToken{ID: id}, read: now} }
	absent := cachedValue{read: now}
	answers := func(digest string) bool {
		_, _, ok := c.lookup("ban:a", digest)
		return ok
	}

	c.store("g1", "ban:a", absent, "d1", tok(1))
	if answers("d1") {
		t.Fatal("answered before any read of the generation")
	}
	c.confirm("g1", now)
	c.store("g1", "ban:a", absent, "d1", tok(1))
	if !answers("d1") {
		t.Fatal("a confirmed read is not answered")
	}
	now = now.Add(cacheFresh - time.Millisecond)
	if !answers("d1") {
		t.Fatal("not answered within cacheFresh of the confirming read")
	}
	now = now.Add(time.Millisecond)
	if answers("d1") {
		t.Fatal("answered cacheFresh after the last confirming read")
	}

	c.confirm("g2", now) // another replica wrote
	if answers("d1") {
		t.Fatal("an entry of the old generation survived a new one")
	}
	c.store("g1", "ban:a", absent, "d1", tok(1)) // a lookup that read before the write
	if answers("d1") {
		t.Fatal("a read of the old generation was kept after the new one was seen")
	}
	c.store("g2", "ban:a", absent, "d1", tok(1))
	if !answers("d1") {
		t.Fatal("a read of the current generation was not kept")
	}

	pollStart := now
	now = now.Add(time.Millisecond)
	c.invalidate() // this replica wrote, or a read of the generation failed
	if answers("d1") {
		t.Fatal("answered after invalidate")
	}
	c.confirm("g2", pollStart) // a read that started before the write
	c.store("g2", "ban:a", absent, "d1", tok(1))
	if answers("d1") {
		t.Fatal("a read of the generation from before invalidate was believed")
	}
	c.store("g2", "ban:a", absent, "d1", tok(1))
	if answers("d1") {
		t.Fatal("kept a read while no generation is known")
	}
	c.confirm("g2", now)
	c.store("g2", "ban:a", absent, "d1", tok(1))
	if !answers("d1") {
		t.Fatal("not answered after a read of the generation that followed invalidate")
	}

	at := now.Add(time.Second)
	c.touched(1, at)
	if _, ct, ok := c.lookup("ban:a", "d1"); !ok || ct.t.LastUsedAt == nil || !ct.t.LastUsedAt.Equal(at) {
		t.Fatalf("touched: %v %v", ok, ct.t.LastUsedAt)
	}

	c.confirm("g2", now.Add(cacheMaxAge))
	now = now.Add(cacheMaxAge)
	if answers("d1") {
		t.Fatal("answered an entry older than cacheMaxAge")
	}

	// The value and the token age separately: either one older than
	// cacheMaxAge sends the lookup to Redis, so a token changed behind the
	// server's back is seen even while its KV value is re-read often.
	c.confirm("g2", now)
	fresh, old := now, now.Add(-cacheMaxAge)
	tests := []struct {
		name             string
		valueAt, tokenAt time.Time
		want             bool
	}{
		{"both young", fresh, fresh, true},
		{"token just under max age", fresh, old.Add(time.Nanosecond), true},
		{"token at max age", fresh, old, false},
		{"value at max age", old, fresh, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.store("g2", "ban:a", cachedValue{read: tt.valueAt}, "d1", cachedToken{t: tokens.DeployToken{ID: 1}, read: tt.tokenAt})
			if got := answers("d1"); got != tt.want {
				t.Fatalf("answered = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHotCacheBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newHotCache(10, func() time.Time { return now })
	c.confirm("g", now)
	for i := range 1000 {
		c.store("g", string(rune('a'+i%26))+string(rune(i)), cachedValue{read: now}, string(rune(i)), cachedToken{t: tokens.DeployToken{ID: int64(i)}, read: now})
		if len(c.tokens) > 10 || len(c.values) > 10 || len(c.digests) > 10 {
			t.Fatalf("after %d stores: %d tokens, %d values, %d IDs", i+1, len(c.tokens), len(c.values), len(c.digests))
		}
	}
}

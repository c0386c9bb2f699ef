package cache

import (
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestMemoryRules drives the cache's rules with a fake clock: what it
// answers, for how long, and which reads it refuses to keep.
func TestMemoryRules(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newMemory(100, func() time.Time { return now })
	tok := func(id int64) cachedToken { return cachedToken{t: tokens.DeployToken{ID: id}, read: now} }
	absent := cachedBan{read: now}
	answers := func(digest string) bool {
		_, _, _, ok := c.lookup("a", digest)
		return ok
	}
	// begin is the epoch a lookup that starts now reads at.
	begin := func() uint64 {
		_, _, epoch, _ := c.lookup("a", "no such digest")
		return epoch
	}

	c.store(begin(), "a", absent, "d1", tok(1))
	if answers("d1") {
		t.Fatal("answered before any read of the generation")
	}
	c.confirm("g1", now)
	c.store(begin(), "a", absent, "d1", tok(1))
	if !answers("d1") {
		t.Fatal("a confirmed read is not answered")
	}
	now = now.Add(fresh - time.Millisecond)
	if !answers("d1") {
		t.Fatal("not answered within fresh of the confirming read")
	}
	now = now.Add(time.Millisecond)
	if answers("d1") {
		t.Fatal("answered fresh after the last confirming read")
	}

	before := begin()    // a lookup that reads before another replica's write
	c.confirm("g2", now) // another replica wrote
	if answers("d1") {
		t.Fatal("an entry of the old generation survived a new one")
	}
	c.store(before, "a", absent, "d1", tok(1))
	if answers("d1") {
		t.Fatal("a read of the old generation was kept after the new one was seen")
	}
	c.store(begin(), "a", absent, "d1", tok(1))
	if !answers("d1") {
		t.Fatal("a read of the current generation was not kept")
	}

	pollStart := now
	before = begin() // a lookup that reads before this replica's write
	now = now.Add(time.Millisecond)
	c.invalidate() // this replica wrote, or a read of the generation failed
	if answers("d1") {
		t.Fatal("answered after invalidate")
	}
	c.confirm("g2", pollStart) // a read that started before the write
	c.store(begin(), "a", absent, "d1", tok(1))
	if answers("d1") {
		t.Fatal("a read of the generation from before invalidate was believed")
	}
	c.store(begin(), "a", absent, "d1", tok(1))
	if answers("d1") {
		t.Fatal("kept a read while no generation is known")
	}
	c.confirm("g2", now)
	c.store(before, "a", absent, "d1", tok(1))
	if answers("d1") {
		t.Fatal("kept a read that began before invalidate")
	}
	c.store(begin(), "a", absent, "d1", tok(1))
	if !answers("d1") {
		t.Fatal("not answered after a read of the generation that followed invalidate")
	}

	at := now.Add(time.Second)
	c.touched(1, at)
	if _, ct, _, ok := c.lookup("a", "d1"); !ok || ct.t.LastUsedAt == nil || !ct.t.LastUsedAt.Equal(at) {
		t.Fatalf("touched: %v %v", ok, ct.t.LastUsedAt)
	}

	c.confirm("g2", now.Add(maxAge))
	now = now.Add(maxAge)
	if answers("d1") {
		t.Fatal("answered an entry older than maxAge")
	}

	// The ban and the token age separately: either one older than maxAge
	// sends the lookup to the Source, so a token changed behind the
	// server's back is seen even while its ban is re-read often.
	c.confirm("g2", now)
	young, old := now, now.Add(-maxAge)
	tests := []struct {
		name             string
		valueAt, tokenAt time.Time
		want             bool
	}{
		{"both young", young, young, true},
		{"token just under max age", young, old.Add(time.Nanosecond), true},
		{"token at max age", young, old, false},
		{"ban at max age", old, young, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.store(begin(), "a", cachedBan{read: tt.valueAt}, "d1", cachedToken{t: tokens.DeployToken{ID: 1}, read: tt.tokenAt})
			if got := answers("d1"); got != tt.want {
				t.Fatalf("answered = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMemoryBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newMemory(10, func() time.Time { return now })
	c.confirm("g", now)
	for i := range 1000 {
		c.store(c.epoch, string(rune('a'+i%26))+string(rune(i)), cachedBan{read: now}, string(rune(i)), cachedToken{t: tokens.DeployToken{ID: int64(i)}, read: now})
		if len(c.tokens) > 10 || len(c.bans) > 10 || len(c.digests) > 10 {
			t.Fatalf("after %d stores: %d tokens, %d bans, %d IDs", i+1, len(c.tokens), len(c.bans), len(c.digests))
		}
	}
}

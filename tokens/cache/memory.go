package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// The cache keeps what DeployTokenForAuth answered in process memory, so a
// deploy token used again costs no round trip.
//
// Correctness rests on the Source's generation, which every write that
// can change a cached answer sets to a new value in the same atomic step
// as the write (revoking a token, deleting a project, writing a ban: see
// Source). Only tokens that were found are cached, so additions need no
// new generation. And of those, only tokens usable at the time (not
// revoked, not expired), answered only for their own username: a refused
// token, or one sent with another username, goes to the Source every
// time, as a secret that matches nothing does, so that how long a refusal
// takes does not tell a dead token, or a live token's secret, from a
// guess.
//
// Each replica reads the generation every poll; a different value empties
// its cache, and so does a failed read. The cache answers only within
// fresh of the start of the last read that saw its generation, so a
// revocation made through any replica is refused by every other one
// within fresh of its write, also when reads of the generation fail (then
// every lookup goes to the Source, failing as it would uncached). The
// replica that made a write empties its own cache at once.
//
// A lookup keeps what it read only when the cache was not emptied while
// it ran (epoch): what it read is then at least as new as the generation
// the cache holds, since that was read before the lookup began, and a
// write since then has set a new generation that the next poll sees.
//
// Every replica of an installation must run a Source that sets the
// generation on those writes before any of them turns the cache on.
// Changes made behind the server's back (redis-cli) set no generation;
// entries older than maxAge are read again, which bounds how long those go
// unseen. A cached ban is answered for as long as its entry lives, even
// past the ban's own expiry: harmless, since a ban's value is its end,
// which package auth compares with the clock.
const (
	poll   = 100 * time.Millisecond
	fresh  = 500 * time.Millisecond
	maxAge = time.Minute
)

type cachedToken struct {
	t    tokens.DeployToken
	p    tokens.Project
	g    tokens.Group // a group token's; p is zero then
	read time.Time
}

type cachedBan struct {
	value  []byte
	banned bool
	read   time.Time
}

// memory is the cache of one replica. Entries are read at gen; the cache
// answers while confirmed (the start of the last read of the generation
// that answered gen) is within fresh.
type memory struct {
	now func() time.Time
	max int

	mu        sync.RWMutex
	gen       string // "" until a read of the generation succeeds
	epoch     uint64 // counts the times the cache was emptied
	confirmed time.Time
	// invalidated is when this replica last emptied the cache for a write
	// of its own: a read of the generation that started before it may
	// have read the generation before the write.
	invalidated time.Time
	tokens      map[string]cachedToken // by digest
	digests     map[int64]string       // token ID -> digest, for touches
	bans        map[string]cachedBan   // by address

	// lookups counts lookup's calls, for the tests that check that both
	// kinds of token take the same path through the cache.
	lookups atomic.Uint64
}

func newMemory(max int, now func() time.Time) *memory {
	m := &memory{now: now, max: max}
	m.reset("")
	return m
}

// reset empties the cache for generation gen ("": none known, so nothing
// is stored or answered until a read of the generation succeeds). Callers
// hold mu.
func (m *memory) reset(gen string) {
	m.gen = gen
	m.epoch++
	m.tokens = map[string]cachedToken{}
	m.digests = map[int64]string{}
	m.bans = map[string]cachedBan{}
}

// lookup answers the cached ban of addr and the token by digest when both
// are cached, fresh and young, and the token is usable; else, with ok
// false, the epoch to pass to store with what the Source answers.
func (m *memory) lookup(addr, digest string) (b cachedBan, t cachedToken, epoch uint64, ok bool) {
	m.lookups.Add(1)
	m.mu.RLock()
	defer m.mu.RUnlock()
	now := m.now()
	if m.gen == "" || now.Sub(m.confirmed) >= fresh {
		return cachedBan{}, cachedToken{}, m.epoch, false
	}
	b, ok = m.bans[addr]
	if !ok || now.Sub(b.read) >= maxAge {
		return cachedBan{}, cachedToken{}, m.epoch, false
	}
	t, ok = m.tokens[digest]
	if !ok || now.Sub(t.read) >= maxAge || !t.t.Active(now) {
		return cachedBan{}, cachedToken{}, m.epoch, false
	}
	return b, t, m.epoch, true
}

// store keeps what one lookup that began at epoch read, unless the cache
// has been emptied since (a write, or another generation) or knows no
// generation.
func (m *memory) store(epoch uint64, addr string, b cachedBan, digest string, t cachedToken) {
	if !t.t.Active(m.now()) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == "" || epoch != m.epoch {
		return
	}
	if len(m.tokens) >= m.max || len(m.bans) >= m.max {
		m.evict()
	}
	m.bans[addr] = b
	if old, ok := m.tokens[digest]; ok && old.t.ID != t.t.ID {
		delete(m.digests, old.t.ID)
	}
	m.tokens[digest] = t
	m.digests[t.t.ID] = digest
}

// evict drops a tenth of the entries (at most 1024, so the lock is held
// briefly), whichever the map order gives. Callers hold mu.
func (m *memory) evict() {
	step := min(m.max/10+1, 1024)
	n := step
	for d, t := range m.tokens {
		if n--; n < 0 {
			break
		}
		delete(m.tokens, d)
		delete(m.digests, t.t.ID)
	}
	n = step
	for k := range m.bans {
		if n--; n < 0 {
			break
		}
		delete(m.bans, k)
	}
}

// touched records a last use written to the Source in the cached token,
// so the next use does not write it again.
func (m *memory) touched(id int64, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.digests[id]
	if !ok {
		return
	}
	e := m.tokens[d]
	e.t.LastUsedAt = &at
	m.tokens[d] = e
}

// invalidate empties the cache until a read of the generation that starts
// after now: this replica has just changed it, or could not read it.
func (m *memory) invalidate() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset("")
	m.invalidated = m.now()
}

// confirm records that a read of the generation started at start answered
// gen, emptying the cache when gen differs from its own. A read that
// started before the last invalidate is ignored.
func (m *memory) confirm(gen string, start time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if start.Before(m.invalidated) {
		return
	}
	if gen != m.gen {
		m.reset(gen)
	}
	m.confirmed = start
}

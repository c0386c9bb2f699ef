package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// Last-use writes leave the request path and are coalesced in memory: a
// request only notes its credential's use (the latest use of each
// credential replaces the one before), and one writer at a time writes
// what is due in one batch (tokens.LastUses: one round trip, one
// transaction). A credential is written at most once per touchEvery by
// this replica: its first use at once (soon after, in the next batch),
// the uses after it within the minute as one write when the minute is
// up, so the stored last use is at most a minute old and a crash loses
// at most the minute's uses not yet written. Flush writes everything
// pending (at shutdown). Before batching, every due use started a write
// of its own; when writes were slower than requests (a synced bbolt
// transaction each, or a burst of first uses after a restart) those piled
// up and took the store's connections from the requests.
const (
	// maxPendingTouches bounds the credentials waiting to be written; a
	// use noted when it is full is written at the credential's next use.
	maxPendingTouches = 1 << 16
	touchTimeout      = 5 * time.Second
	// maxUserAgent bounds the user agent kept: enough for any client's,
	// and a client can't make the record large.
	maxUserAgent = 256
)

// touchKey names a credential whose last use is written.
type touchKey struct {
	deployToken bool
	id          int64
}

// touchQueue holds the uses not yet written; its zero value is ready.
type touchQueue struct {
	mu      sync.Mutex
	pending map[touchKey]*tokens.LastUse
	// written is when this replica last wrote each credential, for those
	// written less than touchEvery ago.
	written map[touchKey]time.Time
	writing bool        // a writer runs
	timer   *time.Timer // wakes a writer for uses coalesced until due
	timerAt time.Time   // when timer fires, on the clock of note's now
}

// note merges use into the pending uses and answers whether a writer must
// be started (the use is due and none runs) and whether it was dropped.
// A use coalesced until later sets a timer, if none is set, that calls
// wake when it comes due.
func (q *touchQueue) note(key touchKey, use tokens.LastUse, now time.Time, wake func()) (startWriter, dropped bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.pending[key]
	if !ok {
		if len(q.pending) >= maxPendingTouches {
			return false, true
		}
		if q.pending == nil {
			q.pending = map[touchKey]*tokens.LastUse{}
		}
		p = &tokens.LastUse{DeployToken: key.deployToken, ID: key.id}
		q.pending[key] = p
	}
	p.At, p.IP, p.Agent = use.At, use.IP, use.Agent
	if use.PrevAt != nil {
		p.PrevAt, p.PrevIP, p.PrevAgent, p.PrevDigest = use.PrevAt, use.PrevIP, use.PrevAgent, use.PrevDigest
	}
	switch {
	case q.writing:
		// The writer takes it, or sets the timer for it when it ends.
	case q.due(key, now):
		q.writing = true
		return true, false
	default:
		// On the real clock; an injected clock ahead of it only makes
		// uses due sooner. A use due before the timer fires brings it
		// forward, so no use waits past its minute for another's.
		d := max(q.written[key].Add(touchEvery).Sub(now), time.Second)
		switch {
		case q.timer == nil:
			q.timer, q.timerAt = time.AfterFunc(d, wake), now.Add(d)
		case now.Add(d).Before(q.timerAt):
			q.timer.Reset(d)
			q.timerAt = now.Add(d)
		}
	}
	return false, false
}

func (q *touchQueue) due(key touchKey, now time.Time) bool {
	w, ok := q.written[key]
	return !ok || now.Sub(w) >= touchEvery
}

// take answers the pending uses due at now (all of them with all), marked
// written at now.
func (q *touchQueue) take(now time.Time, all bool) []tokens.LastUse {
	q.mu.Lock()
	defer q.mu.Unlock()
	var batch []tokens.LastUse
	for key, p := range q.pending {
		if !all && !q.due(key, now) {
			continue
		}
		batch = append(batch, *p)
		delete(q.pending, key)
		if q.written == nil {
			q.written = map[touchKey]time.Time{}
		}
		q.written[key] = now
	}
	return batch
}

// idle ends a writer: it forgets the writes older than touchEvery and
// answers how long until the first pending use is due (0: none pending).
func (q *touchQueue) idle(now time.Time) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.writing = false
	for key, w := range q.written {
		if now.Sub(w) >= touchEvery {
			delete(q.written, key)
		}
	}
	var next time.Duration
	for key := range q.pending {
		d := q.written[key].Add(touchEvery).Sub(now)
		if next == 0 || d < next {
			next = d
		}
	}
	if len(q.pending) > 0 {
		next = max(next, time.Second)
	}
	return next
}

// touch notes a credential's use off the request path: a slow or failed
// write must not slow or fail the request.
func (a *Authenticator) touch(key touchKey, use tokens.LastUse) {
	now := a.now()
	start, dropped := a.touches.note(key, use, now, a.wake)
	if dropped && a.Logger != nil {
		a.Logger.Debug("record last use: too many pending, left for the next use", "deploy_token", key.deployToken, "id", key.id)
	}
	if start {
		go a.writeTouches()
	}
}

// writeTouches writes the due uses in batches until none is due, then
// sets a timer for the ones coalesced until later.
func (a *Authenticator) writeTouches() {
	for {
		batch := a.touches.take(a.now(), false)
		if len(batch) == 0 {
			break
		}
		a.writeBatch(batch)
	}
	if next := a.touches.idle(a.now()); next > 0 {
		a.touches.mu.Lock()
		if a.touches.timer == nil && !a.touches.writing {
			a.touches.timer, a.touches.timerAt = time.AfterFunc(next, a.wake), a.now().Add(next)
		}
		a.touches.mu.Unlock()
	}
}

// wake starts a writer for uses that came due, unless one runs.
func (a *Authenticator) wake() {
	a.touches.mu.Lock()
	a.touches.timer = nil
	start := !a.touches.writing
	a.touches.writing = true
	a.touches.mu.Unlock()
	if start {
		a.writeTouches()
	}
}

func (a *Authenticator) writeBatch(batch []tokens.LastUse) {
	ctx, cancel := context.WithTimeout(context.Background(), touchTimeout)
	defer cancel()
	if err := a.Store.RecordLastUses(ctx, batch); err != nil && a.Logger != nil {
		a.Logger.LogAttrs(ctx, slog.LevelWarn, "record last use", slog.Int("credentials", len(batch)), slog.Any("err", err))
	}
}

// FlushLastUses writes every use noted and not yet written, due or not,
// in one batch: at shutdown, so a clean stop loses none.
func (a *Authenticator) FlushLastUses(ctx context.Context) error {
	batch := a.touches.take(a.now(), true)
	if len(batch) == 0 {
		return nil
	}
	return a.Store.RecordLastUses(ctx, batch)
}

// clientKey carries what a request says of its client into the checks.
type clientKey struct{}

type client struct{ addr, agent string }

// WithUserAgent answers ctx carrying the user agent of the request, which
// a credential's last use records.
func WithUserAgent(ctx context.Context, agent string) context.Context {
	c, _ := ctx.Value(clientKey{}).(client)
	c.agent = agent
	return context.WithValue(ctx, clientKey{}, c)
}

// withAddr answers ctx carrying the client address, for the last use.
func withAddr(ctx context.Context, addr string) context.Context {
	c, _ := ctx.Value(clientKey{}).(client)
	if c.addr == addr {
		return ctx
	}
	c.addr = addr
	return context.WithValue(ctx, clientKey{}, c)
}

// useAt answers the use of a credential at now by the client in ctx.
func useAt(ctx context.Context, now time.Time) tokens.LastUse {
	c, _ := ctx.Value(clientKey{}).(client)
	agent := c.agent
	if len(agent) > maxUserAgent {
		agent = agent[:maxUserAgent]
	}
	return tokens.LastUse{At: now, IP: c.addr, Agent: agent}
}

package auth

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// batchRecorder records the batches of last uses written to it, holding
// each write until release is closed. Only RecordLastUses is called: the
// queue is tested here, the stores' writes by the conformance suite.
type batchRecorder struct {
	tokens.Store
	release          chan struct{}
	running, most    atomic.Int64
	mu               sync.Mutex
	batches          [][]tokens.LastUse
	perKey           map[touchKey]int
	last             map[touchKey]tokens.LastUse
	written, batched atomic.Int64
}

func newBatchRecorder() *batchRecorder {
	return &batchRecorder{release: make(chan struct{}), perKey: map[touchKey]int{}, last: map[touchKey]tokens.LastUse{}}
}

func (r *batchRecorder) RecordLastUses(_ context.Context, uses []tokens.LastUse) error {
	n := r.running.Add(1)
	for m := r.most.Load(); n > m && !r.most.CompareAndSwap(m, n); m = r.most.Load() {
	}
	<-r.release
	r.running.Add(-1)
	r.mu.Lock()
	r.batches = append(r.batches, uses)
	for _, u := range uses {
		k := touchKey{u.DeployToken, u.ID}
		r.perKey[k]++
		r.last[k] = u
	}
	r.mu.Unlock()
	r.written.Add(int64(len(uses)))
	r.batched.Add(1)
	return nil
}

// TestTouchQueue checks that last uses are written at most once per
// credential per minute, in batches by one writer at a time: a first use
// at once, the uses after it within the minute coalesced (the latest
// winning) and written once due, by the next writer that runs; and that
// FlushLastUses writes what is pending.
func TestTouchQueue(t *testing.T) {
	rec := newBatchRecorder()
	var ahead atomic.Int64
	start := time.Now()
	a := &Authenticator{Store: rec, Now: func() time.Time { return start.Add(time.Duration(ahead.Load())) }}
	const keys, rounds = 50, 20
	// The first use starts a writer; once it holds its batch (the first
	// credential alone), every credential is used many times. Without
	// the wait the writer may start late and take every first use in
	// its batch, leaving nothing to coalesce.
	a.touch(touchKey{deployToken: true, id: 0}, tokens.LastUse{At: a.now(), IP: "192.0.2.1", Agent: "a"})
	eventually(t, "the first write is held", func() bool { return rec.running.Load() == 1 })
	for i := range rounds {
		for id := range int64(keys) {
			a.touch(touchKey{deployToken: true, id: id}, tokens.LastUse{At: a.now(), IP: "192.0.2.1", Agent: string(rune('a' + i))})
		}
	}
	close(rec.release)
	eventually(t, "every credential written", func() bool { return rec.written.Load() >= keys })
	time.Sleep(20 * time.Millisecond) // room for any extra write to show
	rec.mu.Lock()
	for key, n := range rec.perKey {
		if n != 1 {
			t.Errorf("credential %d written %d times within the minute", key.id, n)
		}
	}
	rec.mu.Unlock()
	// The first use started a write; the uses noted while it was held
	// went in one more batch (the credentials not yet written), the
	// first credential's later ones wait for their minute.
	if n := rec.batched.Load(); n > 2 {
		t.Errorf("%d batches within the minute, want at most 2", n)
	}
	batches := rec.batched.Load()

	// A minute later, the next use starts a writer that writes what
	// waited, every credential's latest use, in one batch.
	ahead.Store(int64(touchEvery))
	a.touch(touchKey{deployToken: true, id: keys}, tokens.LastUse{At: a.now(), Agent: "new"})
	eventually(t, "the coalesced uses written", func() bool { return rec.written.Load() >= keys+2 })
	time.Sleep(20 * time.Millisecond)
	rec.mu.Lock()
	for id := range int64(keys) {
		if u := rec.last[touchKey{deployToken: true, id: id}]; u.Agent != string(rune('a'+rounds-1)) {
			t.Errorf("credential %d last written with use %q, want the latest", id, u.Agent)
		}
	}
	rec.mu.Unlock()
	if n := rec.batched.Load(); n != batches+1 {
		t.Errorf("%d batches, want %d", n, batches+1)
	}
	written := rec.written.Load()
	if m := rec.most.Load(); m > 1 {
		t.Errorf("%d writes ran at once, want one", m)
	}

	// Within the minute a use waits; FlushLastUses writes it.
	key := touchKey{deployToken: true, id: 0} // written a moment ago
	a.touch(key, tokens.LastUse{At: a.now(), IP: "192.0.2.4"})
	time.Sleep(20 * time.Millisecond)
	if n := rec.written.Load(); n != written {
		t.Fatalf("a use within the minute was written at once (%d writes)", n)
	}
	if err := a.FlushLastUses(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.last[key].IP; got != "192.0.2.4" {
		t.Errorf("after FlushLastUses the last use is from %q, want 192.0.2.4", got)
	}
}

// TestTouchTimerBroughtForward: a use that comes due before the armed
// timer brings it forward, so it is not written up to a minute late behind
// another credential's use. Found in review.
func TestTouchTimerBroughtForward(t *testing.T) {
	now := time.Now()
	a, b := touchKey{id: 1}, touchKey{id: 2}
	q := &touchQueue{written: map[touchKey]time.Time{a: now, b: now.Add(-50 * time.Second)}}
	wake := func() {}
	q.note(a, tokens.LastUse{At: now}, now, wake)
	if want := now.Add(touchEvery); !q.timerAt.Equal(want) {
		t.Fatalf("timer at %v, want %v", q.timerAt.Sub(now), want.Sub(now))
	}
	q.note(b, tokens.LastUse{At: now}, now, wake)
	if want := now.Add(10 * time.Second); !q.timerAt.Equal(want) {
		t.Fatalf("after a use due sooner, timer at %v, want %v", q.timerAt.Sub(now), want.Sub(now))
	}
	q.note(a, tokens.LastUse{At: now}, now, wake)
	if want := now.Add(10 * time.Second); !q.timerAt.Equal(want) {
		t.Fatalf("a use due later moved the timer to %v", q.timerAt.Sub(now))
	}
	q.timer.Stop()
}

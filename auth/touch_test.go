package auth

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTouchQueue checks that last-use writes are made once per credential
// while one is pending, by a bounded number of writers, and all of them.
func TestTouchQueue(t *testing.T) {
	a := &Authenticator{}
	release := make(chan struct{})
	var (
		running, most, written atomic.Int64
		mu                     sync.Mutex
		perKey                 = map[touchKey]int{}
	)
	write := func(key touchKey) func(context.Context) error {
		return func(context.Context) error {
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-release
			running.Add(-1)
			mu.Lock()
			perKey[key]++
			mu.Unlock()
			written.Add(1)
			return nil
		}
	}
	const keys = 50
	// Every credential is used many times while its first write is held.
	for range 20 {
		for id := range int64(keys) {
			key := touchKey{deployToken: true, id: id}
			a.touch(key, write(key))
		}
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for written.Load() < keys && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // room for any extra write to show
	if n := written.Load(); n != keys {
		t.Errorf("%d writes, want one per credential (%d)", n, keys)
	}
	for key, n := range perKey {
		if n != 1 {
			t.Errorf("credential %d written %d times", key.id, n)
		}
	}
	if m := most.Load(); m > maxTouchWriters {
		t.Errorf("%d writes ran at once, want at most %d", m, maxTouchWriters)
	}

	// Once written, a credential's next use is written again.
	for {
		a.touches.mu.Lock()
		n := len(a.touches.pending)
		a.touches.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes still pending", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	key := touchKey{deployToken: true, id: 1}
	done := make(chan struct{})
	a.touch(key, func(context.Context) error { close(done); return nil })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a later use was not written")
	}
}

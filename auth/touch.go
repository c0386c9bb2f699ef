package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Last-use writes leave the request path through a queue: at most one
// write per credential waits or runs at a time, written by at most
// maxTouchWriters goroutines that end when the queue is empty. Without it,
// every request with a credential whose last use was not yet stored started
// its own write; when writes are slower than requests (a synced bbolt
// transaction each, or a burst of first uses after a restart) those
// goroutines piled up by the hundred thousand and took the store's
// connections from the requests.
const (
	maxTouchWriters = 4
	// maxPendingTouches bounds the queue; a write dropped when it is full
	// is made at the credential's next use.
	maxPendingTouches = 1 << 16
	touchTimeout      = 5 * time.Second
)

// touchKey names a credential whose last use is written.
type touchKey struct {
	deployToken bool
	id          int64
}

type touchWrite struct {
	key   touchKey
	write func(ctx context.Context) error
}

// touchQueue holds the pending last-use writes; its zero value is ready.
type touchQueue struct {
	mu      sync.Mutex
	pending map[touchKey]bool // queued or being written
	queue   []touchWrite
	writers int
}

// add queues write for key unless a write for key is already queued or
// running, and answers whether a new writer must be started.
func (q *touchQueue) add(key touchKey, write func(ctx context.Context) error) (startWriter bool, dropped bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending[key] {
		return false, false
	}
	if len(q.pending) >= maxPendingTouches {
		return false, true
	}
	if q.pending == nil {
		q.pending = map[touchKey]bool{}
	}
	q.pending[key] = true
	q.queue = append(q.queue, touchWrite{key, write})
	if q.writers >= maxTouchWriters {
		return false, false
	}
	q.writers++
	return true, false
}

// next answers the next write, or false (and one writer fewer) when none is
// left.
func (q *touchQueue) next() (touchWrite, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		q.queue = nil
		q.writers--
		return touchWrite{}, false
	}
	w := q.queue[0]
	q.queue[0] = touchWrite{}
	q.queue = q.queue[1:]
	return w, true
}

func (q *touchQueue) done(key touchKey) {
	q.mu.Lock()
	delete(q.pending, key)
	q.mu.Unlock()
}

// touch records a credential's use off the request path: a slow or failed
// write must not slow or fail the request.
func (a *Authenticator) touch(key touchKey, write func(ctx context.Context) error) {
	start, dropped := a.touches.add(key, write)
	if dropped && a.Logger != nil {
		a.Logger.Debug("record last use: queue full, left for the next use", "deploy_token", key.deployToken, "id", key.id)
	}
	if !start {
		return
	}
	go func() {
		for {
			w, ok := a.touches.next()
			if !ok {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), touchTimeout)
			err := w.write(ctx)
			cancel()
			a.touches.done(w.key)
			if err != nil && a.Logger != nil {
				a.Logger.LogAttrs(context.Background(), slog.LevelWarn, "record last use", slog.Any("err", err))
			}
		}
	}()
}

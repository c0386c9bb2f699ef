package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testStrike: Strike counts and bans in one step, so of concurrent strikes
// exactly those past the limit see a count past it, and one of them bans.
func testStrike(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	strike := func(addr string, limit int64) tokens.Strike {
		return tokens.Strike{Counter: tokens.FailKey(addr), Window: time.Minute, Limit: limit,
			Ban: tokens.BanKey(addr), Value: []byte("1800000000"), BanTTL: time.Hour}
	}
	t.Run("in turn", func(t *testing.T) {
		want := []tokens.Struck{
			{Count: 1}, {Count: 2}, {Count: 3, Created: true},
			{Count: 4, Banned: true, Ban: []byte("1800000000")},
		}
		for i, w := range want {
			got, err := s.Strike(ctx, strike("192.0.2.1", 3))
			if err != nil {
				t.Fatal(err)
			}
			if got.Count != w.Count || got.Banned != w.Banned || string(got.Ban) != string(w.Ban) || got.Created != w.Created {
				t.Errorf("strike %d = %+v, want %+v", i+1, got, w)
			}
		}
		if v, err := s.Get(ctx, tokens.BanKey("192.0.2.1")); err != nil || string(v) != "1800000000" {
			t.Errorf("ban = %q, %v", v, err)
		}
	})
	t.Run("racing", func(t *testing.T) {
		const n, limit = 300, 30
		var (
			wg                     sync.WaitGroup
			mu                     sync.Mutex
			within, created, fails int
		)
		for range n {
			wg.Go(func() {
				r, err := s.Strike(ctx, strike("192.0.2.2", limit))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					fails++
				case r.Count <= limit && !r.Banned:
					within++
				}
				if r.Created {
					created++
				}
			})
		}
		wg.Wait()
		if fails != 0 || within != limit || created != 1 {
			t.Errorf("%d strikes: %d within the limit of %d, %d bans, %d errors; want %d, 1, 0", n, within, limit, created, fails, limit)
		}
		if v, err := s.Get(ctx, tokens.FailKey("192.0.2.2")); err != nil || string(v) != "300" {
			t.Errorf("counter = %q, %v; want 300", v, err)
		}
	})
}

package auth

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

type count int

func (c *count) Inc() { *c++ }

// TestLimiterCounters: every failure reported is counted, an address
// without a name too; a ban is counted once, when it is imposed.
func TestLimiterCounters(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var failures, bans count
	l := &Limiter{KV: store, Max: 2, Window: time.Minute, Ban: time.Hour, Failures: &failures, Bans: &bans}
	tests := []struct {
		addr           string
		failures, bans count
		banned         bool
	}{
		{addr: "192.0.2.1", failures: 1, bans: 0},
		{addr: "192.0.2.1", failures: 2, bans: 1, banned: true},
		{addr: "192.0.2.1", failures: 3, bans: 1, banned: true},
		{addr: "", failures: 4, bans: 1},
		{addr: "192.0.2.2", failures: 5, bans: 1},
	}
	for i, tt := range tests {
		l.Fail(t.Context(), tt.addr)
		if failures != tt.failures || bans != tt.bans {
			t.Errorf("after failure %d from %q: %d failures, %d bans counted; want %d, %d", i+1, tt.addr, failures, bans, tt.failures, tt.bans)
		}
		if banned := l.Check(t.Context(), tt.addr) != nil; banned != tt.banned {
			t.Errorf("after failure %d from %q: banned %v, want %v", i+1, tt.addr, banned, tt.banned)
		}
	}
	var none *Limiter
	none.Fail(t.Context(), "192.0.2.3") // a nil Limiter counts nothing, and does not panic
}

package boltstore

import (
	"path/filepath"
	"testing"
	"time"
)

func TestSweep(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "deploytokens.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	for i, ttl := range []time.Duration{time.Millisecond, time.Millisecond, 0, time.Hour} {
		if err := s.Create(ctx, string(rune('a'+i)), []byte("v"), ttl); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	if _, err := s.Incr(ctx, "counter", time.Millisecond); err != nil {
		t.Fatalf("Incr: %v", err)
	}
	// Wait until the short values read as expired, so the sweep must find
	// exactly those three.
	for _, k := range []string{"a", "b", "counter"} {
		for {
			if _, err := s.Get(ctx, k); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	n, err := s.sweep()
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if n != 3 {
		t.Errorf("sweep deleted %d values, want 3", n)
	}
	dump, err := s.Dump(ctx)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	for _, k := range []string{"kv/a", "kv/b", "kv/counter"} {
		if _, ok := dump[k]; ok {
			t.Errorf("%s is still in the file", k)
		}
	}
	for _, k := range []string{"kv/c", "kv/d"} {
		if _, ok := dump[k]; !ok {
			t.Errorf("%s was swept but has not expired", k)
		}
	}
}

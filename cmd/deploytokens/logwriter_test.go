package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// TestLogWriter: lines written together come out whole, within the flush
// interval while the server runs, and all of them at Close.
func TestLogWriter(t *testing.T) {
	out := &testenv.LogBuffer{}
	l := newLogWriter(out)
	l.Write([]byte("first\n"))
	deadline := time.Now().Add(10 * logFlushEvery)
	for !strings.Contains(out.String(), "first\n") {
		if time.Now().After(deadline) {
			t.Fatal("a line was not written out by the flush loop")
		}
		time.Sleep(logFlushEvery / 4)
	}
	var wg sync.WaitGroup
	line := strings.Repeat("x", 1000)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(l, "%d %d %s\n", g, i, line)
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1+8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 1+8*200)
	}
	for _, s := range lines[1:] {
		var g, i int
		var x string
		if n, _ := fmt.Sscanf(s, "%d %d %s", &g, &i, &x); n != 3 || x != line {
			t.Fatalf("line torn: %.60q", s)
		}
	}
}

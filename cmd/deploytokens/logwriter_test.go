package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// writes records every Write call it gets.
type writes struct {
	mu    sync.Mutex
	calls []string
	fail  bool
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail {
		return 0, errors.New("disk full")
	}
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writes) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.calls, "")
}

// TestLogWriter: lines written together come out whole (each inside one
// write of the underlying writer), within the flush interval while the
// server runs, and all of them at Close.
func TestLogWriter(t *testing.T) {
	out := &writes{}
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
	for _, c := range out.calls {
		if !strings.HasSuffix(c, "\n") {
			t.Fatalf("a write ends inside a line: %.60q", c[max(0, len(c)-60):])
		}
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

// TestLogWriterRecovers: after the underlying writer failed, lines written
// once it works again come out.
func TestLogWriterRecovers(t *testing.T) {
	out := &writes{fail: true}
	l := newLogWriter(out)
	l.Write([]byte("lost\n"))
	l.flush()
	out.mu.Lock()
	out.fail = false
	out.mu.Unlock()
	l.Write([]byte("kept\n"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "kept\n" {
		t.Fatalf("after a failed write: %q", got)
	}
}

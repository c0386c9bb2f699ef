package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushEvery bounds how long a log line waits in memory.
const logFlushEvery = 100 * time.Millisecond

// logWriter buffers the server's log, writing it out every logFlushEvery
// and when 64 KiB are waiting. Every token request logs a line; a write(2)
// for each was 5% of the server's CPU under load (docs/performance.md).
// A crash loses at most the last logFlushEvery of lines; Close writes the
// rest. Each Write (one slog record) stays whole.
type logWriter struct {
	mu   sync.Mutex
	out  io.Writer
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{out: w, buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushLoop()
	return l
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p) > l.buf.Available() {
		l.flushLocked()
	}
	return l.buf.Write(p)
}

// flushLocked writes the buffer out. A bufio.Writer keeps its first error
// for good; after a failed write (a full disk behind stderr, say) the lines
// it held are dropped and logging starts over, rather than stop for the
// rest of the process's life. Callers hold mu.
func (l *logWriter) flushLocked() {
	if l.buf.Flush() != nil {
		l.buf.Reset(l.out)
	}
}

func (l *logWriter) flush() {
	l.mu.Lock()
	l.flushLocked()
	l.mu.Unlock()
}

func (l *logWriter) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.flush()
		}
	}
}

// Close stops the flushing and writes what is left.
func (l *logWriter) Close() error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Flush()
}

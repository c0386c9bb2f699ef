package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStartTimeout bounds how long a redis-server may take to answer PING.
const redisStartTimeout = 15 * time.Second

// RedisServer is a real redis-server owned by one test. It can be stopped and
// started again on the same port and data directory, so tests can watch a
// client lose the store and get it back.
type RedisServer struct {
	tb      testing.TB
	bin     string
	dir     string
	port    int
	logPath string
	// args are added to the command line; sentinelConf, when set, makes
	// the process a Sentinel reading (and rewriting) that file.
	args         []string
	sentinelConf string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartRedis starts a durable redis-server on a free 127.0.0.1 port for the
// test and answers its URL (redis://127.0.0.1:PORT/0). The server is stopped
// when the test ends. The test fails when redis-server is not installed: a
// store test that silently skips proves nothing.
func StartRedis(tb testing.TB) string {
	tb.Helper()
	return StartRedisProcess(tb).URL()
}

// StartRedisProcess is StartRedis for tests that need to stop and restart the
// server; it answers the running server.
func StartRedisProcess(tb testing.TB) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("testenv: redis-server is not on PATH (install the redis-server package): %v", err)
	}
	s := &RedisServer{tb: tb, bin: bin, dir: tb.TempDir()}
	s.logPath = filepath.Join(s.dir, "redis.log")
	tb.Cleanup(s.Stop)

	// Another process may take the free port between FreePort and the bind,
	// so a failed start is retried on a new port a few times.
	var lastErr error
	for range 3 {
		s.port = FreePort(tb)
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("testenv: %v", lastErr)
	return nil
}

// URL answers the server's address as a redis:// URL for database 0.
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr()) }

// Addr answers the server's host:port.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Start starts the server again on the same port and data directory after
// Stop; the append-only file brings back every acknowledged write. The test
// fails when the server does not come up.
func (s *RedisServer) Start() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("testenv: %v", err)
	}
}

// Stop terminates the server (SIGTERM, then waits for it to exit). Stopping
// a stopped server does nothing.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(redisStartTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redis-server is already running")
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open redis log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--daemonize", "no",
		"--protected-mode", "yes",
	}
	if s.sentinelConf != "" {
		args = []string{s.sentinelConf, "--sentinel", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir, "--daemonize", "no"}
	}
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(redisStartTimeout)
	for {
		if err := Ping(s.Addr()); err == nil {
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited at start:\n%s", s.port, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on port %d did not answer PING within %s:\n%s", s.port, redisStartTimeout, s.logTail())
		}
	}
}

func (s *RedisServer) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Ping speaks just enough RESP to ask the redis-server at addr whether it is
// ready; a server still loading its append-only file answers -LOADING
// instead of +PONG.
func Ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("+PONG")) {
		return fmt.Errorf("redis answered %q", bytes.TrimSpace(line))
	}
	return nil
}

// FreePort answers a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RoundTrips is a go-redis hook that counts the round trips a client makes:
// each command sent alone and each pipeline once. With Only set, it counts
// only the commands so named (a pipeline once if it holds one of them).
type RoundTrips struct {
	Only []string
	n    atomic.Int64
}

// N answers the round trips counted so far.
func (h *RoundTrips) N() int64 { return h.n.Load() }

// Reset starts the count again from 0.
func (h *RoundTrips) Reset() { h.n.Store(0) }

func (h *RoundTrips) counts(cmds ...redis.Cmder) bool {
	if len(h.Only) == 0 {
		return true
	}
	for _, c := range cmds {
		if slices.Contains(h.Only, c.Name()) {
			return true
		}
	}
	return false
}

// DialHook is part of redis.Hook.
func (h *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook is part of redis.Hook.
func (h *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.counts(cmd) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook is part of redis.Hook.
func (h *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.counts(cmds...) {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

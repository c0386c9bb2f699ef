package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// rawConn opens a TCP connection to s and sends req as it is.
func rawConn(t *testing.T, s *testServer, req string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedWithin reads c until the server closes it, failing the test when
// that takes longer than d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the server kept the connection open: %v", err)
	}
}

// TestSlowClients: a client that declares a body and never sends it, or
// keeps a connection idle, is cut off after the read and idle timeouts; an
// authorized git request is not held to the read timeout.
func TestSlowClients(t *testing.T) {
	s := startServer(t, func(c *Config) { c.ReadTimeout, c.IdleTimeout = 300*time.Millisecond, 500*time.Millisecond })
	t.Run("body never sent", func(t *testing.T) {
		for _, path := range []string{"/api/v4/projects", "/jwt/auth", "/users/sign_in", "/tanuki/app.git/git-upload-pack"} {
			c := rawConn(t, s, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n")
			closedWithin(t, c, 5*time.Second)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := rawConn(t, s, "GET /-/health HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("health: %v %v", resp, err)
		}
		closedWithin(t, c, 5*time.Second)
	})
	t.Run("bodiless answer slower than the read timeout", func(t *testing.T) {
		// A GET gets no read deadline: one that answers slowly (Redis
		// paused) is answered, and its connection serves the next one.
		rs := testenv.StartRedisProcess(t)
		slow := startServer(t, func(c *Config) { c.RedisURL, c.ReadTimeout = rs.URL(), 300*time.Millisecond })
		rc := redis.NewClient(&redis.Options{Addr: rs.Addr()})
		defer rc.Close()
		get := "GET /api/v4/projects HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: " + slow.AdminToken + "\r\n\r\n"
		c := rawConn(t, slow, "")
		br := bufio.NewReader(c)
		for i := range 2 {
			if i == 0 {
				if err := rc.Do(t.Context(), "CLIENT", "PAUSE", "1000", "ALL").Err(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := io.WriteString(c, get); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %s %s", i+1, resp.Status, body)
			}
		}
	})
	t.Run("authorized git body slower than the read timeout", func(t *testing.T) {
		s.project(t, s.AdminToken, "tanuki/app", "")
		work := t.TempDir()
		gitRun(t, work, "init", "-q", "-b", "main")
		gitRun(t, work, "commit", "-q", "--allow-empty", "-m", "first")
		gitRun(t, work, "push", "-q", fmt.Sprintf("http://root:%s@%s/tanuki/app.git", s.AdminToken, s.Host), "main")
		d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "slow", "scopes": []string{"read_repository"}})
		// Protocol v2's ls-refs: the answer names the branch only if the
		// body, sent after the read timeout, reached git.
		body := "0014command=ls-refs\n0000"
		auth := base64.StdEncoding.EncodeToString([]byte(d.Username + ":" + d.Token))
		c := rawConn(t, s, fmt.Sprintf("POST /tanuki/app.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"+
			"Git-Protocol: version=2\r\nContent-Type: application/x-git-upload-pack-request\r\nContent-Length: %d\r\n\r\n", auth, len(body)))
		time.Sleep(time.Second)
		if _, err := io.WriteString(c, body); err != nil {
			t.Fatalf("the server closed the connection of an authorized git request: %v", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("git-upload-pack after a slow body: %v", err)
		}
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(out), "refs/heads/main") {
			t.Fatalf("git-upload-pack after a slow body: %s %q", resp.Status, out)
		}
	})
}

package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
		// The store budget outlasts the pause: this is about the read
		// timeout, not about a hung store (TestHungRedisAnswered503WithinBudget).
		slow := startServer(t, func(c *Config) {
			c.RedisURL, c.ReadTimeout, c.StoreTimeout = rs.URL(), 300*time.Millisecond, 5*time.Second
		})
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
	s.project(t, s.AdminToken, "tanuki/app", "")
	work := t.TempDir()
	gitRun(t, work, "init", "-q", "-b", "main")
	// 8 MB that do not compress: an answer larger than the server's
	// socket buffer (tcp_wmem allows up to 4 MB by default) and the
	// client's (made small below), so git is still writing it when the
	// client reads late.
	big := make([]byte, 8<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(work, "big"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	gitRun(t, work, "add", "big")
	gitRun(t, work, "commit", "-q", "-m", "first")
	gitRun(t, work, "push", "-q", fmt.Sprintf("http://root:%s@%s/tanuki/app.git", s.AdminToken, s.Host), "main")
	head := strings.TrimSpace(gitRun(t, work, "rev-parse", "HEAD"))
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "slow", "scopes": []string{"read_repository"}})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(d.Username+":"+d.Token))
	// post sends the head of a request whose body has length bytes.
	post := func(route, auth string, length int) net.Conn {
		return rawConn(t, s, fmt.Sprintf("POST /tanuki/app.git/%s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"+
			"Content-Type: application/x-%s-request\r\nContent-Length: %d\r\n\r\n", route, auth, route, length))
	}
	// A fetch: the first want, with capabilities, a flush and done.
	want := fmt.Sprintf("want %s side-band-64k ofs-delta\n", head)
	fetch := fmt.Sprintf("%04x%s00000009done\n", len(want)+4, want)

	t.Run("fetch body slower than the read timeout", func(t *testing.T) {
		// Authorized, even: a fetch's body is small, and a client that
		// stalls part way must not hold git processes.
		c := post("git-upload-pack", basic, len(fetch))
		if _, err := io.WriteString(c, fetch[:10]); err != nil {
			t.Fatal(err)
		}
		closedWithin(t, c, 5*time.Second)
	})
	t.Run("fetch answer slower than the read timeout", func(t *testing.T) {
		// The body arrives at once, then the client reads the answer
		// late: the fetch's read deadline bounds its body, never the
		// answer (which git is still writing when the deadline passes).
		c := post("git-upload-pack", basic, len(fetch))
		if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, fetch); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		out, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || len(out) < len(big) || !strings.HasSuffix(string(out), "0000") {
			t.Fatalf("fetch read late: %s, %d bytes, ends %q, %v", resp.Status, len(out), out[max(0, len(out)-8):], err)
		}
	})
	t.Run("push body slower than the read timeout", func(t *testing.T) {
		// A push's pack may take long: an authorized push is not held to
		// the read timeout. A flush alone is a push of nothing.
		c := post("git-receive-pack", "Basic "+base64.StdEncoding.EncodeToString([]byte("root:"+s.AdminToken)), 4)
		time.Sleep(time.Second)
		if _, err := io.WriteString(c, "0000"); err != nil {
			t.Fatalf("the server closed the connection of an authorized push: %v", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("git-receive-pack after a slow body: %v %v", resp, err)
		}
	})
}

// TestGitMaxConcurrent: past DEPLOYTOKENS_GIT_MAX_CONCURRENT running git
// backends, a git request waits up to half the read timeout, then gets 503
// with a Retry-After and a message git shows.
func TestGitMaxConcurrent(t *testing.T) {
	// A share per client of two: every request here comes from one
	// address, and the probe must wait behind the holder, not be refused.
	s := startServer(t, func(c *Config) { c.GitMaxConcurrent, c.GitMaxPerClient, c.ReadTimeout = 1, 2, 300*time.Millisecond })
	s.project(t, s.AdminToken, "tanuki/app", "public")
	// A push whose body never comes holds the one backend: an authorized
	// push is not held to the read timeout.
	basic := base64.StdEncoding.EncodeToString([]byte("root:" + s.AdminToken))
	rawConn(t, s, "POST /tanuki/app.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "+basic+
		"\r\nContent-Type: application/x-git-receive-pack-request\r\nContent-Length: 1000\r\n\r\n")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// With credentials: an anonymous clone has a bound of its own.
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/tanuki/app.git/info/refs?service=git-upload-pack", nil)
		req.Header.Set("Authorization", "Basic "+basic)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") != "10" || !strings.Contains(string(body), "too many git requests") {
				t.Fatalf("busy: %v %q", resp.Header, body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a clone was served while the one git backend was held: %s", resp.Status)
		}
	}
}

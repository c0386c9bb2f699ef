//go:build unix

package githttp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const bigProject = "big/repo" // public in the test policy

// makeBigRepo fills bigProject with one commit of 24 MiB of random data,
// more than the socket buffers hold, so its clone can't finish while the
// client does not read; it answers the commit.
func makeBigRepo(t *testing.T, ts *testServer) string {
	t.Helper()
	env := gitEnv(t)
	if err := ts.repos.Create(t.Context(), bigProject); err != nil {
		t.Fatal(err)
	}
	dir, err := ts.repos.Dir(bigProject)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 24<<20)
	_, _ = rand.NewChaCha8([32]byte{3}).Read(data)
	out, errOut, err := gitCmd(t, env, strings.NewReader(string(data)), dir, "hash-object", "-w", "--stdin")
	if err != nil {
		t.Fatalf("hash-object: %v\n%s", err, errOut)
	}
	out, errOut, err = gitCmd(t, env, strings.NewReader("100644 blob "+strings.TrimSpace(out)+"\tbig.bin\n"), dir, "mktree")
	if err != nil {
		t.Fatalf("mktree: %v\n%s", err, errOut)
	}
	head := mustGit(t, env, dir, "commit-tree", strings.TrimSpace(out), "-m", "big")
	mustGit(t, env, dir, "update-ref", "refs/heads/main", head)
	return head
}

// slowReader opens a connection from the loopback address local with a 4
// KiB receive buffer, asks for a clone of bigProject and never reads the
// answer, as the attack in issue 20 did. auth is a Basic credential, or ""
// for an anonymous request.
func slowReader(t *testing.T, ts *testServer, local, auth, head string) net.Conn {
	t.Helper()
	d := net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)},
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			return errors.Join(err, serr)
		},
	}
	addr := ts.Listener.Addr().String()
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := pktLine("want "+head+" side-band-64k ofs-delta\n") + "0000" + pktLine("done\n")
	req := "POST /" + bigProject + ".git/git-upload-pack HTTP/1.1\r\nHost: " + addr + "\r\n"
	if auth != "" {
		req += "Authorization: Basic " + auth + "\r\n"
	}
	req += "Content-Type: application/x-git-upload-pack-request\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return conn
}

const writerAuth = "d3JpdGVyOnRva2VuLXc=" // writer:token-w

// lsRemote runs an ordinary git ls-remote of a private project from
// 127.0.0.1. Private, so that git sends its credentials: it first asks
// without, and a public project answers that.
func lsRemote(t *testing.T, ts *testServer) error {
	t.Helper()
	if _, err := ts.repos.Dir(project); err != nil {
		if err := ts.repos.Create(t.Context(), project); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, err := gitCmd(t, gitEnv(t), nil, "", "ls-remote", ts.url("writer", "token-w", project+".git"))
	if err != nil {
		return fmt.Errorf("%w: %s", err, stderr)
	}
	return nil
}

// waitBusy waits until at least n backends run.
func waitBusy(t *testing.T, b *Backends, n int64) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); b.Busy() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // a hang guard, not a timing assertion
			t.Fatalf("%d backends run, want %d", b.Busy(), n)
		}
	}
}

// TestSlowReadersShareFairly: eight sockets that never read their clone
// hold what slots they get for as long as the test runs, and an ordinary
// git ls-remote with credentials from another address is still answered:
// anonymous requests have a pool of their own, and one address only its
// share of a pool.
func TestSlowReadersShareFairly(t *testing.T) {
	t.Parallel()
	many := func(f func(i int) string) []string {
		var a []string
		for i := range 8 {
			a = append(a, f(i))
		}
		return a
	}
	tests := []struct {
		name      string
		attackers []string // the local address of each socket
		auth      string
	}{
		{name: "anonymous from the client's own address", attackers: many(func(int) string { return "127.0.0.1" })},
		{name: "anonymous from many addresses", attackers: many(func(i int) string { return fmt.Sprintf("127.0.0.%d", i+2) })},
		{name: "with credentials from another address", attackers: many(func(int) string { return "127.0.0.2" }), auth: writerAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			backends := &Backends{}
			ts := newTestServer(t, func(c *Config) {
				c.MaxBackends, c.QueueWait, c.Backends = 4, time.Second, backends
				c.StallTimeout = time.Hour // the attackers hold their slots throughout
			})
			head := makeBigRepo(t, ts)
			for _, local := range tt.attackers {
				slowReader(t, ts, local, tt.auth, head)
			}
			waitBusy(t, backends, 1)
			if err := lsRemote(t, ts); err != nil {
				t.Fatalf("ls-remote while %d slow readers run (%d backends busy): %v", len(tt.attackers), backends.Busy(), err)
			}
		})
	}
}

// TestStalledClientFreesBackend: a client that takes none of its clone for
// StallTimeout has its backend killed and its slot freed while its
// connection stays open, so a git ls-remote waiting for the only slot is
// answered.
func TestStalledClientFreesBackend(t *testing.T) {
	t.Parallel()
	backends := &Backends{}
	exited := make(chan error, 8)
	ts := newTestServer(t, func(c *Config) {
		c.MaxBackends, c.QueueWait, c.Backends = 1, 20*time.Second, backends
		c.StallTimeout = 300 * time.Millisecond
		c.backendExited = func(_ int, err error) { exited <- err }
	})
	head := makeBigRepo(t, ts)
	slowReader(t, ts, "127.0.0.2", writerAuth, head)
	waitBusy(t, backends, 1)
	if err := lsRemote(t, ts); err != nil {
		t.Fatalf("ls-remote behind a stalled client: %v", err)
	}
	// The first backend to end was the stalled client's, killed.
	err := <-exited
	var exitErr interface{ Sys() any }
	if !errors.As(err, &exitErr) {
		t.Fatalf("the stalled client's backend exited with %v, want killed", err)
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the stalled client's backend exited with %v, want SIGKILL", err)
	}
}

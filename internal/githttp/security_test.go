package githttp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTraversal sends hostile paths byte for byte and checks that none
// reaches a repository or file outside Root.
func TestTraversal(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	env := gitEnv(t)
	const marker = "TOP-SECRET-7f3a9c"

	// Outside Root: a repository with the marker in a commit, and a file.
	outside := filepath.Join(ts.dir, "outside")
	secretRepo := filepath.Join(outside, "secret.git")
	mustGit(t, env, "", "init", "-q", "--bare", "-b", "main", secretRepo)
	work := t.TempDir()
	mustGit(t, env, work, "init", "-q", "-b", "main")
	secretCommit := commit(t, env, work, "secret.txt", marker+"\n")
	mustGit(t, env, work, "push", "-q", secretRepo, "main")
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(marker), 0o600); err != nil {
		t.Fatal(err)
	}
	mustGit(t, env, secretRepo, "config", "http.receivepack", "true")

	// Inside Root: a real repository, and two symbolic links that lead out.
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(ts.root, "evil"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside/secret.git", filepath.Join(ts.root, "evil", "link.git")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secretRepo, filepath.Join(ts.root, "evil", "abs.git")); err != nil {
		t.Fatal(err)
	}

	auth := "Authorization: Basic d3JpdGVyOnRva2VuLXc=\r\n" // writer:token-w
	tests := []struct {
		name   string
		target string // request target, sent as is
		// status is 404 from the handler; a few targets are refused by
		// net/http before any handler runs, with 400.
		status        int
		wantAuthorize bool
	}{
		{name: "dot dot", target: "/../outside/secret.git/info/refs?service=git-upload-pack", status: 404},
		{name: "dot dot x", target: "/../x", status: 404},
		{name: "dot dot deeper", target: "/tanuki/../../outside/secret.git/info/refs?service=git-upload-pack", status: 404},
		{name: "encoded dot dot", target: "/%2e%2e/outside/secret.git/info/refs?service=git-upload-pack", status: 404},
		{name: "encoded dot dot upper", target: "/%2E%2E/secret/info/refs?service=git-upload-pack", status: 404},
		{name: "encoded slash", target: "/a/..%2f..%2foutside/secret.git/info/refs?service=git-upload-pack", status: 404},
		{name: "encoded slash in b", target: "/a/..%2fb.git/info/refs?service=git-upload-pack", status: 404},
		{name: "backslash", target: `/a\b.git/info/refs?service=git-upload-pack`, status: 404},
		{name: "backslash traversal", target: `/a/..\..\outside\secret.git/info/refs?service=git-upload-pack`, status: 404},
		{name: "encoded nul", target: "/tanuki/awesome_project%00.git/info/refs?service=git-upload-pack", status: 404},
		{name: "encoded control", target: "/tanuki/awesome%01project.git/info/refs?service=git-upload-pack", status: 404},
		{name: "raw nul", target: "/tanuki/awesome_project\x00.git/info/refs?service=git-upload-pack", status: 400},
		{name: "raw control", target: "/tanuki/awesome\x01project.git/info/refs?service=git-upload-pack", status: 400},
		{name: "double slash absolute", target: "/" + secretRepo + "/info/refs?service=git-upload-pack", status: 404},
		{name: "absolute form URI", target: "http://127.0.0.1/../outside/secret.git/info/refs?service=git-upload-pack", status: 404},
		{name: "asterisk", target: "*", status: 404},
		{name: "dot segment", target: "/./tanuki/awesome_project.git/info/refs?service=git-upload-pack", status: 404},
		{name: "hidden segment", target: "/tanuki/.awesome_project.git/info/refs?service=git-upload-pack", status: 404},
		{name: "dash segment", target: "/tanuki/-awesome_project.git/info/refs?service=git-upload-pack", status: 404},
		{name: "dumb config", target: "/tanuki/awesome_project.git/config", status: 404},
		{name: "dumb objects", target: "/tanuki/awesome_project.git/objects/info/packs", status: 404},
		{name: "symlink out of root", target: "/evil/link.git/info/refs?service=git-upload-pack", status: 404, wantAuthorize: true},
		{name: "absolute symlink", target: "/evil/abs.git/info/refs?service=git-upload-pack", status: 404, wantAuthorize: true},
		{name: "symlink upload-pack", target: "/evil/link.git/git-upload-pack", status: 404, wantAuthorize: true},
	}
	addr := ts.Listener.Addr().String()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.policy.callCount()
			method := "GET"
			body := ""
			if path, _, _ := strings.Cut(tt.target, "?"); strings.HasSuffix(path, "/git-upload-pack") {
				method = "POST"
				body = pktLine("want "+secretCommit+"\n") + "0000" + pktLine("done\n")
			}
			req := method + " " + tt.target + " HTTP/1.1\r\nHost: " + addr + "\r\n" + auth +
				"Content-Type: application/x-git-upload-pack-request\r\n" +
				"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
			status, _, got := rawRequest(t, addr, req)
			if status != tt.status {
				t.Errorf("status = %d, want %d; body %q", status, tt.status, got)
			}
			for _, leak := range []string{marker, secretCommit, "PACK", "service="} {
				if strings.Contains(got, leak) {
					t.Errorf("body contains %q: %q", leak, got)
				}
			}
			if called := ts.policy.callCount() > before; called != tt.wantAuthorize {
				t.Errorf("Authorize called = %v, want %v", called, tt.wantAuthorize)
			}
		})
	}

	// The same symlinked repository through a real client.
	_, stderr, err := gitCmd(t, env, nil, "", "clone", ts.url("writer", "token-w", "evil/link.git"), filepath.Join(t.TempDir(), "c"))
	if err == nil || strings.Contains(stderr, marker) {
		t.Errorf("clone through symlink: err %v, stderr %q", err, stderr)
	}
}

// TestDisconnectKillsBackend starts a large clone, hangs up after the
// response headers and checks that the backend and everything under it
// were killed, not left packing for nobody.
func TestDisconnectKillsBackend(t *testing.T) {
	t.Parallel()
	exited := make(chan error, 4)
	pids := make(chan int, 4)
	ts := newTestServer(t, func(c *Config) {
		c.backendExited = func(pid int, err error) {
			pids <- pid
			exited <- err
		}
	})
	env := gitEnv(t)
	const big = "big/repo"
	if err := ts.repos.Create(t.Context(), big); err != nil {
		t.Fatal(err)
	}
	dir, err := ts.repos.Dir(big)
	if err != nil {
		t.Fatal(err)
	}
	// 24 MiB of random data cannot sit in the socket buffers (at most a
	// few MiB on loopback), so the backend cannot finish on its own while
	// the client does not read.
	data := make([]byte, 24<<20)
	_, _ = rand.NewChaCha8([32]byte{2}).Read(data)
	out, errOut, err := gitCmd(t, env, strings.NewReader(string(data)), dir, "hash-object", "-w", "--stdin")
	if err != nil {
		t.Fatalf("hash-object: %v\n%s", err, errOut)
	}
	blob := strings.TrimSpace(out)
	out, errOut, err = gitCmd(t, env, strings.NewReader("100644 blob "+blob+"\tbig.bin\n"), dir, "mktree")
	if err != nil {
		t.Fatalf("mktree: %v\n%s", err, errOut)
	}
	head := mustGit(t, env, dir, "commit-tree", strings.TrimSpace(out), "-m", "big")
	mustGit(t, env, dir, "update-ref", "refs/heads/main", head)

	addr := ts.Listener.Addr().String()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := pktLine("want "+head+" side-band-64k ofs-delta\n") + "0000" + pktLine("done\n")
	req := "POST /" + big + ".git/git-upload-pack HTTP/1.1\r\nHost: " + addr +
		"\r\nAuthorization: Basic d3JpdGVyOnRva2VuLXc=\r\n" +
		"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	// Read a little of the pack so the backend is known to be streaming.
	if _, err := io.ReadFull(resp.Body, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	var pid int
	select {
	case pid = <-pids:
		err = <-exited
	case <-time.After(time.Minute): // a hang guard, not a timing assertion
		t.Fatal("backend still running a minute after the client hung up")
	}
	var exitErr interface{ Sys() any }
	if !errors.As(err, &exitErr) {
		t.Fatalf("backend exited with %v, want killed", err)
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("backend exited with %v, want SIGKILL", err)
	}
	// upload-pack and pack-objects were in the backend's process group;
	// SIGKILL is on its way to them but they may take a moment to go.
	for deadline := time.Now().Add(time.Minute); ; {
		live := liveGroupMembers(t, pid)
		if len(live) == 0 {
			break
		}
		if time.Now().After(deadline) { // hang guard
			t.Fatalf("processes left in the backend's group: %v", live)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveGroupMembers lists processes in process group pgid that are not
// zombies (which the test cannot reap: they are not its children).
func liveGroupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to check the process group: %v", err)
	}
	var live []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[2] != strconv.Itoa(pgid) {
			continue
		}
		live = append(live, fmt.Sprintf("%s %s", e.Name(), s[:i+1]))
	}
	return live
}

//go:build unix

package githttp

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRecorder is a slog.Handler keeping every record's level and message,
// so a test can check what the server logs and at which level.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}

// lines answers the records as "LEVEL message err=...", in order.
func (l *logRecorder) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		line := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				line += " err=" + a.Value.String()
			}
			return true
		})
		out = append(out, line)
	}
	return out
}

// makeSmallRepo fills project with one commit of a small file and answers
// the commit.
func makeSmallRepo(t *testing.T, ts *testServer) string {
	t.Helper()
	env := gitEnv(t)
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	dir, err := ts.repos.Dir(project)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := gitCmd(t, env, strings.NewReader("hello\n"), dir, "hash-object", "-w", "--stdin")
	if err != nil {
		t.Fatalf("hash-object: %v\n%s", err, errOut)
	}
	out, errOut, err = gitCmd(t, env, strings.NewReader("100644 blob "+strings.TrimSpace(out)+"\tREADME\n"), dir, "mktree")
	if err != nil {
		t.Fatalf("mktree: %v\n%s", err, errOut)
	}
	head := mustGit(t, env, dir, "commit-tree", strings.TrimSpace(out), "-m", "small")
	mustGit(t, env, dir, "update-ref", "refs/heads/main", head)
	return head
}

// lingeringGit writes a git wrapper whose http-backend, like a backend
// still tidying up, keeps running after its whole answer is written: the
// real git answers, then the wrapper closes its output and waits.
func lingeringGit(t *testing.T) string {
	t.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\n" + strconv.Quote(real) + " \"$@\"\ns=$?\n[ \"$1\" = http-backend ] || exit $s\nexec 1>&-\nsleep 60\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClientHangupIsQuiet: a client that hangs up, in the middle of its
// clone or once it has the whole answer (go-git does), is routine: the
// server logs it at debug, and nothing at warn or above (issue 20,
// finding 8).
func TestClientHangupIsQuiet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// lingering runs http-backend through lingeringGit.
		lingering bool
		big       bool
		// done reports whether the client has read what it waits for.
		done func(got []byte) bool
	}{
		{"mid-fetch", false, true, func(got []byte) bool { return len(got) >= 256<<10 }},
		// The side-band stream ends with a flush packet, which ends the
		// last chunk; the HTTP response ends only when the backend does.
		{"after its answer", true, false, func(got []byte) bool { return bytes.HasSuffix(got, []byte("0000\r\n")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &logRecorder{}
			exited := make(chan error, 1)
			ts := newTestServer(t, func(c *Config) {
				c.Logger = slog.New(rec)
				c.backendExited = func(_ int, err error) { exited <- err }
			})
			proj, head := project, ""
			if tt.big {
				proj, head = bigProject, makeBigRepo(t, ts)
			} else {
				head = makeSmallRepo(t, ts)
			}
			if tt.lingering {
				ts.repos.GitBin = lingeringGit(t)
			}
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			body := pktLine("want "+head+" side-band-64k ofs-delta\n") + "0000" + pktLine("done\n")
			req := "POST /" + proj + ".git/git-upload-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + writerAuth + "\r\n" +
				"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
			if _, err := conn.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(time.Minute)) // a hang guard
			var got []byte
			buf := make([]byte, 32<<10)
			for !tt.done(got) {
				n, err := conn.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					t.Fatalf("after %d bytes: %v\n%s", len(got), err, got)
				}
			}
			conn.Close()
			select {
			case <-exited:
			case <-time.After(time.Minute): // a hang guard
				t.Fatal("the backend was not stopped after its client left")
			}
			// The log line follows the exit.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && len(rec.lines()) == 0; time.Sleep(10 * time.Millisecond) {
			}
			lines := rec.lines()
			// Which of the two lines depends on whether the backend's
			// output ended before the server saw the client leave.
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "DEBUG githttp: client went away") }) {
				t.Errorf("log %q, want a debug line saying the client went away", lines)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "DEBUG ") && !strings.HasPrefix(l, "INFO ") {
					t.Errorf("logged %q: a client hanging up is no warning", l)
				}
			}
		})
	}
}

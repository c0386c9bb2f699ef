package githttp

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

const project = "tanuki/awesome_project"

// commit writes a file in work and commits it, returning the commit id.
func commit(t *testing.T, env []string, work, name, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, env, work, "add", name)
	mustGit(t, env, work, "commit", "-q", "-m", "add "+name)
	return mustGit(t, env, work, "rev-parse", "HEAD")
}

// serverRef reads a ref straight from the bare repository on disk.
func serverRef(t *testing.T, ts *testServer, env []string, ref string) string {
	t.Helper()
	dir, err := ts.repos.Dir(project)
	if err != nil {
		t.Fatal(err)
	}
	return mustGit(t, env, dir, "rev-parse", ref)
}

func TestPushCloneFetch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	env := gitEnv(t)
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	writeURL := ts.url("writer", "token-w", project+".git")
	readURL := ts.url("reader", "token-r", project+".git")

	work := t.TempDir()
	mustGit(t, env, work, "init", "-q", "-b", "main")
	first := commit(t, env, work, "README.md", "hello\n")
	mustGit(t, env, work, "push", "-q", writeURL, "main")
	if got := serverRef(t, ts, env, "main"); got != first {
		t.Fatalf("after first push server main = %s, want %s", got, first)
	}
	second := commit(t, env, work, "CHANGELOG.md", "v1\n")
	mustGit(t, env, work, "push", "-q", writeURL, "main")
	if got := serverRef(t, ts, env, "main"); got != second {
		t.Fatalf("after second push server main = %s, want %s", got, second)
	}

	for _, version := range []string{"0", "1", "2"} {
		t.Run("clone protocol v"+version, func(t *testing.T) {
			ts.resetRequests()
			dst := filepath.Join(t.TempDir(), "clone")
			traceEnv := append(env[:len(env):len(env)], "GIT_TRACE_PACKET=1")
			_, trace, err := gitCmd(t, traceEnv, nil, "", "-c", "protocol.version="+version, "clone", readURL, dst)
			if err != nil {
				t.Fatalf("clone: %v\n%s", err, trace)
			}
			if got := mustGit(t, env, dst, "rev-parse", "HEAD"); got != second {
				t.Errorf("HEAD = %s, want %s", got, second)
			}
			if got := mustGit(t, env, dst, "rev-list", "--count", "HEAD"); got != "2" {
				t.Errorf("clone has %s commits, want 2", got)
			}
			spokeV2 := strings.Contains(trace, "git< version 2")
			if spokeV2 != (version == "2") {
				t.Errorf("server spoke protocol v2 = %v for protocol.version=%s", spokeV2, version)
			}
			wantHeader := ""
			if version != "0" {
				wantHeader = "version=" + version
			}
			for _, s := range ts.requests() {
				if s.gitProtocol != wantHeader {
					t.Errorf("%s %s sent Git-Protocol %q, want %q", s.method, s.path, s.gitProtocol, wantHeader)
				}
			}
		})
	}

	t.Run("shallow clone", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "shallow")
		mustGit(t, env, "", "clone", "-q", "--depth", "1", readURL, dst)
		if got := mustGit(t, env, dst, "rev-list", "--count", "HEAD"); got != "1" {
			t.Errorf("shallow clone has %s commits, want 1", got)
		}
		if got := mustGit(t, env, dst, "rev-parse", "--is-shallow-repository"); got != "true" {
			t.Errorf("is-shallow-repository = %s, want true", got)
		}
	})

	t.Run("canonical path without .git", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "canonical")
		mustGit(t, env, "", "clone", "-q", ts.url("reader", "token-r", "Tanuki/Awesome_Project"), dst)
		if got := mustGit(t, env, dst, "rev-parse", "HEAD"); got != second {
			t.Errorf("HEAD = %s, want %s", got, second)
		}
	})

	t.Run("fetch", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "fetcher")
		mustGit(t, env, "", "clone", "-q", readURL, dst)
		third := commit(t, env, work, "NEWS.md", "news\n")
		mustGit(t, env, work, "push", "-q", writeURL, "main")
		mustGit(t, env, dst, "fetch", "-q", "origin")
		if got := mustGit(t, env, dst, "rev-parse", "origin/main"); got != third {
			t.Errorf("origin/main after fetch = %s, want %s", got, third)
		}
	})
}

// TestFirstPushMakesAMissingRepository: an authorized project whose
// repository was never made (its creation cut short) gets one on its first
// push; a fetch of it is still not found.
func TestFirstPushMakesAMissingRepository(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	env := gitEnv(t)
	work := t.TempDir()
	mustGit(t, env, work, "init", "-q", "-b", "main")
	first := commit(t, env, work, "README.md", "hello\n")
	if _, _, err := gitCmd(t, env, nil, work, "ls-remote", ts.url("reader", "token-r", project+".git")); err == nil {
		t.Fatal("ls-remote of a project without a repository succeeded")
	}
	if _, err := ts.repos.Dir(project); err == nil {
		t.Fatal("a fetch made the repository")
	}
	mustGit(t, env, work, "push", "-q", ts.url("writer", "token-w", project+".git"), "main")
	if got := serverRef(t, ts, env, "main"); got != first {
		t.Fatalf("after the first push server main = %s, want %s", got, first)
	}
}

func TestPushDenied(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	env := gitEnv(t)
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	mustGit(t, env, work, "init", "-q", "-b", "main")
	commit(t, env, work, "README.md", "hello\n")

	tests := []struct {
		name       string
		user, pass string
		wantStderr []string
	}{
		{name: "reader may not push", user: "reader", pass: "token-r", wantStderr: []string{"remote: " + denyPushMessage, "403"}},
		{name: "wrong token", user: "writer", pass: "nope", wantStderr: []string{"remote: HTTP Basic: Access denied", "Authentication failed"}},
		{name: "no credentials", wantStderr: []string{"terminal prompts disabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := gitCmd(t, env, nil, work, "push", ts.url(tt.user, tt.pass, project+".git"), "main")
			if err == nil {
				t.Fatal("push succeeded, want it denied")
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			dir, err := ts.repos.Dir(project)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := gitCmd(t, env, nil, dir, "rev-parse", "--verify", "-q", "refs/heads/main"); err == nil {
				t.Error("denied push created refs/heads/main")
			}
		})
	}
}

// TestLargePushStreams pushes more than http.postBuffer, which git sends
// chunked, and fetches it back with a request body large enough for git to
// gzip it.
func TestLargePushChunkedAndGzipFetch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	env := gitEnv(t)
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	writeURL := ts.url("writer", "token-w", project+".git")

	work := t.TempDir()
	mustGit(t, env, work, "init", "-q", "-b", "main")
	big := make([]byte, 512<<10)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(big)
	head := commit(t, env, work, "big.bin", string(big))
	// Many refs make the fetch request's want list long enough that git
	// gzips it (it does above 1 KiB).
	for i := range 100 {
		mustGit(t, env, work, "tag", fmt.Sprintf("v%03d", i))
	}

	ts.resetRequests()
	mustGit(t, env, work, "-c", "http.postBuffer=65536", "push", "-q", writeURL, "main", "--tags")
	chunked := false
	for _, s := range ts.requests() {
		if s.method == http.MethodPost && strings.HasSuffix(s.path, "/git-receive-pack") && s.chunked {
			chunked = true
		}
	}
	if !chunked {
		t.Fatalf("push did not send a chunked body; requests: %+v", ts.requests())
	}

	for _, version := range []string{"0", "2"} {
		t.Run("clone protocol v"+version, func(t *testing.T) {
			ts.resetRequests()
			dst := filepath.Join(t.TempDir(), "clone")
			mustGit(t, env, "", "-c", "protocol.version="+version, "clone", "-q", ts.url("reader", "token-r", project+".git"), dst)
			if got := mustGit(t, env, dst, "rev-parse", "HEAD"); got != head {
				t.Errorf("HEAD = %s, want %s", got, head)
			}
			got, err := os.ReadFile(filepath.Join(dst, "big.bin"))
			if err != nil || !bytes.Equal(got, big) {
				t.Errorf("big.bin differs after clone (err %v)", err)
			}
			if n := mustGit(t, env, dst, "tag", "-l"); strings.Count(n, "\n")+1 != 100 {
				t.Errorf("clone has %d tags, want 100", strings.Count(n, "\n")+1)
			}
			gzipped := false
			for _, s := range ts.requests() {
				if s.method == http.MethodPost && s.contentEncoding == "gzip" {
					gzipped = true
				}
			}
			if !gzipped {
				t.Errorf("clone sent no gzip request body; requests: %+v", ts.requests())
			}
		})
	}
}

// TestGzipRequestBody sends a hand-made gzip upload-pack request, so the
// gzip path is tested whatever the git client decides.
func TestGzipRequestBody(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	env := gitEnv(t)
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	mustGit(t, env, work, "init", "-q", "-b", "main")
	head := commit(t, env, work, "README.md", "hello\n")
	mustGit(t, env, work, "push", "-q", ts.url("writer", "token-w", project), "main")

	plain := pktLine("want "+head+" ofs-delta\n") + "0000" + pktLine("done\n")
	tests := []struct {
		name     string
		encoding string
		body     []byte
		wantPack bool
	}{
		{name: "gzip", encoding: "gzip", body: gzipBytes(t, plain), wantPack: true},
		{name: "plain", body: []byte(plain), wantPack: true},
		// Without the header, http-backend must not guess: the gzip bytes
		// are no valid request and no pack comes back.
		{name: "gzip without header", body: gzipBytes(t, plain), wantPack: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+"/"+project+".git/git-upload-pack", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth("reader", "token-r")
			req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			gotPack := resp.StatusCode == http.StatusOK && bytes.Contains(body.Bytes(), []byte("PACK"))
			if gotPack != tt.wantPack {
				t.Errorf("status %d, pack in body = %v, want %v; body %q", resp.StatusCode, gotPack, tt.wantPack, body.String())
			}
		})
	}
}

func gzipBytes(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestResponses checks status, headers and body of single requests, and
// that Authorize sees only syntactically valid git routes.
func TestResponses(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		method, path  string
		user, pass    string
		gitProtocol   string
		wantStatus    int
		wantType      string
		wantBody      string
		wantAuthorize bool
	}{
		{
			name: "advertisement v0", method: "GET", path: "/" + project + ".git/info/refs?service=git-upload-pack",
			user: "reader", pass: "token-r", wantStatus: 200,
			wantType: "application/x-git-upload-pack-advertisement", wantBody: "001e# service=git-upload-pack\n", wantAuthorize: true,
		},
		{
			name: "advertisement v2", method: "GET", path: "/" + project + ".git/info/refs?service=git-upload-pack",
			user: "reader", pass: "token-r", gitProtocol: "version=2", wantStatus: 200,
			wantType: "application/x-git-upload-pack-advertisement", wantBody: "000eversion 2\n", wantAuthorize: true,
		},
		{
			name: "receive-pack advertisement", method: "GET", path: "/" + project + ".git/info/refs?service=git-receive-pack",
			user: "writer", pass: "token-w", wantStatus: 200,
			wantType: "application/x-git-receive-pack-advertisement", wantBody: "001f# service=git-receive-pack\n", wantAuthorize: true,
		},
		{
			name: "push denied", method: "GET", path: "/" + project + ".git/info/refs?service=git-receive-pack",
			user: "reader", pass: "token-r", wantStatus: 403, wantType: "text/plain; charset=utf-8", wantBody: denyPushMessage, wantAuthorize: true,
		},
		{
			name: "no credentials", method: "GET", path: "/" + project + ".git/info/refs?service=git-upload-pack",
			wantStatus: 401, wantType: "text/plain; charset=utf-8", wantAuthorize: true,
		},
		{
			name: "authorized but no repository", method: "GET", path: "/tanuki/missing.git/info/refs?service=git-upload-pack",
			user: "writer", pass: "token-w", wantStatus: 404, wantAuthorize: true,
		},
		{name: "dumb info/refs", method: "GET", path: "/" + project + ".git/info/refs", user: "reader", pass: "token-r", wantStatus: 404},
		{name: "unknown service", method: "GET", path: "/" + project + ".git/info/refs?service=git-upload-archive", user: "reader", pass: "token-r", wantStatus: 404},
		{name: "HEAD info/refs", method: "HEAD", path: "/" + project + ".git/info/refs?service=git-upload-pack", user: "reader", pass: "token-r", wantStatus: 404},
		{name: "GET upload-pack", method: "GET", path: "/" + project + ".git/git-upload-pack", user: "reader", pass: "token-r", wantStatus: 404},
		{name: "POST info/refs", method: "POST", path: "/" + project + ".git/info/refs?service=git-upload-pack", user: "reader", pass: "token-r", wantStatus: 404},
		{name: "config", method: "GET", path: "/" + project + ".git/config", user: "reader", pass: "token-r", wantStatus: 404},
		{name: "HEAD file", method: "GET", path: "/" + project + ".git/HEAD", user: "reader", pass: "token-r", wantStatus: 404},
		{name: "objects", method: "GET", path: "/" + project + ".git/objects/info/packs", user: "reader", pass: "token-r", wantStatus: 404},
		{name: "hooks", method: "GET", path: "/" + project + ".git/hooks/pre-receive.sample", user: "reader", pass: "token-r", wantStatus: 404},
		{name: "description", method: "GET", path: "/" + project + ".git/description", user: "reader", pass: "token-r", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.policy.callCount()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, ts.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			if tt.gitProtocol != "" {
				req.Header.Set("Git-Protocol", tt.gitProtocol)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d; body %q", resp.StatusCode, tt.wantStatus, body.String())
			}
			if tt.wantType != "" && resp.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", resp.Header.Get("Content-Type"), tt.wantType)
			}
			if !strings.HasPrefix(body.String(), tt.wantBody) {
				t.Errorf("body = %q, want prefix %q", body.String(), tt.wantBody)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache, max-age=0, must-revalidate" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := resp.Header.Values("Pragma"); len(got) != 1 || got[0] != "no-cache" {
				t.Errorf("Pragma = %q, want one no-cache", got)
			}
			if tt.wantStatus == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if called := ts.policy.callCount() > before; called != tt.wantAuthorize {
				t.Errorf("Authorize called = %v, want %v", called, tt.wantAuthorize)
			}
		})
	}
}

// TestBadCanonicalPath checks that a canonical path the handler cannot
// serve is a server error and never reaches the disk or git.
func TestBadCanonicalPath(t *testing.T) {
	t.Parallel()
	for _, canonical := range []string{"", "../outside/secret", "/abs/path", "one"} {
		t.Run(canonical, func(t *testing.T) {
			var started atomic.Bool
			ts := newTestServer(t, func(c *Config) {
				c.Authorize = func(*http.Request, string, Op) (string, error) { return canonical, nil }
				c.OnError = nil // DefaultOnError
				c.backendExited = func(int, error) { started.Store(true) }
			})
			resp, err := ts.Client().Get(ts.URL + "/" + project + ".git/info/refs?service=git-upload-pack")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", resp.StatusCode)
			}
			if started.Load() {
				t.Error("backend ran")
			}
		})
	}
}

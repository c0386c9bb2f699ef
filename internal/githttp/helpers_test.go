package githttp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	errUnauthorized = errors.New("unauthorized")
	errForbidden    = errors.New("forbidden")
)

// denyPushMessage is what GitLab says when a push is denied; git shows a
// text/plain body as "remote: ...".
const denyPushMessage = "You are not allowed to upload code."

// grant is one row of the test authorization table.
type grant struct {
	user    string
	project string // lower case, as the URL writes it after strings.ToLower
	op      Op
}

// policy authorizes by table: users and their passwords, and which user
// may do what on which project. Project paths are matched case-insensitively
// and the canonical path is the lower-case one, like GitLab's lookup.
type policy struct {
	passwords map[string]string
	grants    map[grant]bool

	mu    sync.Mutex
	calls []string
}

func testPolicy() *policy {
	return &policy{
		passwords: map[string]string{"writer": "token-w", "reader": "token-r"},
		grants: map[grant]bool{
			{"writer", "tanuki/awesome_project", OpFetch}: true,
			{"writer", "tanuki/awesome_project", OpPush}:  true,
			{"reader", "tanuki/awesome_project", OpFetch}: true,
			{"writer", "tanuki/missing", OpFetch}:         true,
			{"writer", "big/repo", OpFetch}:               true,
			{"", "big/repo", OpFetch}:                     true, // public
			{"writer", "evil/link", OpFetch}:              true,
			{"writer", "evil/abs", OpFetch}:               true,
		},
	}
}

func (p *policy) authorize(r *http.Request, projectPath string, op Op) (string, error) {
	p.mu.Lock()
	p.calls = append(p.calls, projectPath+" "+op.String())
	p.mu.Unlock()
	canonical := strings.ToLower(projectPath)
	if r.Header.Get("Authorization") == "" && p.grants[grant{"", canonical, op}] {
		return canonical, nil // public
	}
	user, pass, ok := r.BasicAuth()
	if !ok || p.passwords[user] == "" || p.passwords[user] != pass {
		return "", errUnauthorized
	}
	if p.grants[grant{user, canonical, op}] {
		return canonical, nil
	}
	if op == OpPush && p.grants[grant{user, canonical, OpFetch}] {
		return "", errForbidden
	}
	return "", ErrNotFound
}

func (p *policy) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

func renderError(w http.ResponseWriter, _ *http.Request, err error) {
	switch {
	case errors.Is(err, errUnauthorized):
		w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
		http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
	case errors.Is(err, errForbidden):
		http.Error(w, denyPushMessage, http.StatusForbidden)
	default:
		DefaultOnError(w, nil, err)
	}
}

// seen is what the recording middleware noted about one request.
type seen struct {
	method, path, query string
	chunked             bool
	contentEncoding     string
	gitProtocol         string
}

type testServer struct {
	*httptest.Server
	repos  *Repos
	root   string // Repos.Root
	dir    string // parent of root, for files outside it
	policy *policy

	mu   sync.Mutex
	seen []seen
}

// newTestServer serves a fresh repository root through NewHandler on a
// 127.0.0.1 port. configure, if not nil, may change the Config.
func newTestServer(t *testing.T, configure func(*Config)) *testServer {
	t.Helper()
	requireGit(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "repos")
	if err := os.Mkdir(root, 0o750); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{repos: &Repos{Root: root}, root: root, dir: dir, policy: testPolicy()}
	cfg := Config{
		Repos:     ts.repos,
		Authorize: ts.policy.authorize,
		OnError:   renderError,
		Logger:    slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if configure != nil {
		configure(&cfg)
	}
	h := NewHandler(cfg)
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.seen = append(ts.seen, seen{
			method:          r.Method,
			path:            r.URL.Path,
			query:           r.URL.RawQuery,
			chunked:         len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked",
			contentEncoding: r.Header.Get("Content-Encoding"),
			gitProtocol:     r.Header.Get("Git-Protocol"),
		})
		ts.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) requests() []seen {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]seen(nil), ts.seen...)
}

func (ts *testServer) resetRequests() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.seen = nil
}

// url is the clone URL of project with the given credentials.
func (ts *testServer) url(user, pass, project string) string {
	host := strings.TrimPrefix(ts.URL, "http://")
	if user == "" {
		return "http://" + host + "/" + project
	}
	return "http://" + user + ":" + pass + "@" + host + "/" + project
}

func requireGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("these tests need the git binary: %v", err)
	}
}

// gitEnv isolates the git client from the user's configuration.
func gitEnv(t *testing.T) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Tanuki", "GIT_AUTHOR_EMAIL=tanuki@example.com",
		"GIT_COMMITTER_NAME=Tanuki", "GIT_COMMITTER_EMAIL=tanuki@example.com",
		"LC_ALL=C",
	}
}

// gitCmd runs git in dir and returns stdout and stderr.
func gitCmd(t *testing.T, env []string, stdin io.Reader, dir string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustGit runs git and fails the test if it fails; it returns trimmed stdout.
func mustGit(t *testing.T, env []string, dir string, args ...string) string {
	t.Helper()
	out, errOut, err := gitCmd(t, env, nil, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return strings.TrimSpace(out)
}

// rawRequest sends req byte for byte, so nothing cleans the path, and
// reads the response.
func rawRequest(t *testing.T, addr, req string) (int, http.Header, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", req, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// pktLine frames s as a git pkt-line.
func pktLine(s string) string {
	const hex = "0123456789abcdef"
	n := len(s) + 4
	return string([]byte{hex[n>>12&15], hex[n>>8&15], hex[n>>4&15], hex[n&15]}) + s
}

package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/auth"
	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// env is a web handler over a real store, behind the real echo router, as
// the server mounts it: a catch-all route.
type env struct {
	t       *testing.T
	store   tokens.Store
	keys    *tokens.Keys
	svc     *tokens.Service
	h       *Handler
	srv     *httptest.Server
	now     atomic.Pointer[time.Time]
	admin   *tokens.Actor
	logs    *testenv.LogBuffer
	secrets []string
}

type envOptions struct {
	store       tokens.Store
	keys        *tokens.Keys
	externalURL string
	limiter     *auth.Limiter
	admin       *auth.AdminToken
}

// newEnv starts a handler on the embedded store in a temp dir (or on
// o.store) with an admin, the project tanuki/app owned by the admin, and
// users of every role in it.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, store: o.store, keys: o.keys, logs: &testenv.LogBuffer{}}
	if e.store == nil {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "web.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		e.store = s
	}
	if e.keys == nil {
		e.keys = newKeys(t)
	}
	now := time.Now().UTC()
	e.now.Store(&now)
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc = &tokens.Service{Store: e.store, Keys: e.keys, Now: func() time.Time { return *e.now.Load() }, Logger: logger}
	ext := o.externalURL
	if ext == "" {
		ext = "http://deploytokens.test"
	}
	u, err := url.Parse(ext)
	if err != nil {
		t.Fatal(err)
	}
	authn := &auth.Authenticator{Store: e.store, Keys: e.keys, Logger: logger, Admin: o.admin}
	e.h = &Handler{Service: e.svc, Auth: authn, ExternalURL: u, RegistryHost: "registry.test:5000", Logger: logger}
	if o.limiter != nil {
		e.h.Limiter = o.limiter
	}
	ec := echo.New()
	ec.HideBanner = true
	ec.Any("/*", e.h.Serve)
	e.srv = httptest.NewServer(ec)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		logs := e.logs.String()
		for _, s := range e.secrets {
			if s != "" && strings.Contains(logs, s) {
				t.Errorf("a secret appears in the logs")
			}
		}
	})
	return e
}

func newKeys(t *testing.T) *tokens.Keys {
	t.Helper()
	var raw [32]byte
	rand.Read(raw[:])
	k, err := tokens.NewKeys([]byte(hex.EncodeToString(raw[:])))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// advance moves the service's clock.
func (e *env) advance(d time.Duration) {
	n := e.now.Load().Add(d)
	e.now.Store(&n)
}

// seed creates root (admin), the project tanuki/app, and a user for each
// role in it; it answers each user's api PAT by username.
func (e *env) seed() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	root := tokens.User{Username: "root", Name: "root", Admin: true, CreatedAt: time.Now()}
	if err := e.store.CreateUser(ctx, &root); err != nil {
		e.t.Fatal(err)
	}
	e.admin = &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	pats := map[string]string{"root": e.pat(root.ID, tokens.ScopeAPI)}
	if _, err := e.svc.CreateProject(ctx, e.admin, tokens.CreateProjectInput{Path: "app", NamespacePath: "tanuki"}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.CreateProject(ctx, e.admin, tokens.CreateProjectInput{Path: "open", NamespacePath: "tanuki/sub", Visibility: "public"}); err != nil {
		e.t.Fatal(err)
	}
	for _, m := range []struct {
		name  string
		level tokens.AccessLevel
	}{{"owner", tokens.Owner}, {"maint", tokens.Maintainer}, {"dev", tokens.Developer}, {"rep", tokens.Reporter}, {"stranger", 0}} {
		u := e.user(m.name)
		pats[m.name] = e.pat(u.ID, tokens.ScopeAPI)
		if m.level > 0 {
			if _, err := e.svc.SetMember(ctx, e.admin, "tanuki/app", u.ID, m.level, true); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	return pats
}

func (e *env) user(name string) tokens.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(context.Background(), e.admin, tokens.CreateUserInput{Username: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) userID(name string) int64 {
	e.t.Helper()
	u, err := e.store.UserByUsername(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

func (e *env) pat(userID int64, scopes ...string) string {
	e.t.Helper()
	_, s, err := e.svc.CreatePAT(context.Background(), e.admin, userID, tokens.CreatePATInput{Name: "web", Scopes: scopes})
	if err != nil {
		e.t.Fatal(err)
	}
	e.secrets = append(e.secrets, s.Reveal())
	return s.Reveal()
}

func (e *env) tokens(project string) []tokens.DeployToken {
	e.t.Helper()
	ts, err := e.svc.ListDeployTokens(context.Background(), e.admin, project, false)
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

// response is one answer as a browser would see it.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (r response) location() string { return r.Header.Get("Location") }

// browser is a client with a cookie jar that does not follow redirects,
// so tests see every 303.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	mu   sync.Mutex // guards last: tests load pages from goroutines
	last string     // body of the last page, for its CSRF token
}

// signedInMaintainer answers a seeded env and a browser signed in as its
// maintainer, maint.
func signedInMaintainer(t *testing.T) (*env, *browser) {
	t.Helper()
	e := newEnv(t, envOptions{})
	pats := e.seed()
	b := e.browser()
	b.signIn("maint", pats["maint"])
	return e, b
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	if strings.Contains(r.Header.Get("Content-Type"), "text/html") {
		b.mu.Lock()
		b.last = r.Body
		b.mu.Unlock()
	}
	return r
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends form as a browser form; withCSRF adds the token of the last
// page seen.
func (b *browser) post(path string, form url.Values, withCSRF bool) response {
	b.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if withCSRF {
		f.Set(csrfField, b.csrf())
	}
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(f.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRe = regexp.MustCompile(`name="authenticity_token" value="([^"]*)"`)

func (b *browser) csrf() string {
	b.t.Helper()
	b.mu.Lock()
	last := b.last
	b.mu.Unlock()
	m := csrfRe.FindStringSubmatch(last)
	if m == nil {
		b.t.Fatalf("no CSRF token on the last page:\n%s", last)
	}
	return m[1]
}

// signIn signs in through the form and fails the test unless it worked.
func (b *browser) signIn(user, pat string) {
	b.t.Helper()
	if r := b.get("/users/sign_in"); r.Status != 200 {
		b.t.Fatalf("sign-in page: %d", r.Status)
	}
	r := b.post("/users/sign_in", url.Values{"username": {user}, "password": {pat}}, true)
	if r.Status != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d %s", user, r.Status, r.Body)
	}
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// inputValue answers the value attribute of the input with id.
func inputValue(t *testing.T, body, id string) string {
	t.Helper()
	re := regexp.MustCompile(`<input[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`)
	tag := re.FindString(body)
	if tag == "" {
		t.Fatalf("no input #%s in:\n%s", id, body)
	}
	m := regexp.MustCompile(`\bvalue="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

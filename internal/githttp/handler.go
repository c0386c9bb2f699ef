package githttp

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/tokens"
)

// Op is what a request wants to do with a repository.
type Op int

// Operations on a repository.
const (
	// OpFetch is clone, fetch and pull: info/refs?service=git-upload-pack
	// and POST git-upload-pack.
	OpFetch Op = iota + 1
	// OpPush is push: info/refs?service=git-receive-pack and POST
	// git-receive-pack.
	OpPush
)

// String names the operation for logs.
func (o Op) String() string {
	switch o {
	case OpFetch:
		return "fetch"
	case OpPush:
		return "push"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Config configures the handler NewHandler returns.
type Config struct {
	// Repos holds the repositories. Required.
	Repos *Repos
	// Authorize decides whether r may do op on the project at projectPath,
	// as written in the URL without ".git" (already checked by
	// ValidProjectPath, not yet looked up on disk). It returns the
	// canonical project path, whose repository is then served, or an
	// error for OnError to render. Required.
	Authorize func(r *http.Request, projectPath string, op Op) (canonicalPath string, err error)
	// OnError writes the response for an error: Authorize's own errors,
	// errors wrapping ErrNotFound (no such route or repository; render
	// 404), and any other error (render 500 without details). Git shows a
	// text/plain body of an info/refs error to the user as "remote: ...".
	// Nil means DefaultOnError.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives the backend's failures and stderr. Nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxBackends bounds how many git http-backend processes (each with
	// the upload-pack or receive-pack under it) run at once for requests
	// with credentials, so clones of a public project, or clients that
	// read their answers slowly, can't take every process and all memory.
	// A request past the bound waits up to QueueWait for its turn, then
	// gets ErrBusy. 0 means no bound, for anonymous requests too.
	MaxBackends int
	// MaxAnonymousBackends is the same bound for anonymous requests (those
	// Authorize let in without an Authorization header: fetches of public
	// projects), counted apart: anonymous clients can never take the
	// backends that clients with credentials need. 0 means a quarter of
	// MaxBackends, at least 1.
	MaxAnonymousBackends int
	// MaxPerClient bounds how many of one bound's backends requests from
	// one client address may hold or wait for at once; one more is
	// refused at once with ErrClientBusy. 0 means a quarter of each
	// bound, at least 1.
	MaxPerClient int
	// ClientAddr answers the address a request comes from, for
	// MaxPerClient. Nil means the host of r.RemoteAddr.
	ClientAddr func(r *http.Request) string
	// StallTimeout is how long the client may accept none of the answer
	// before its backend is killed and its slot freed: each write to the
	// client has this deadline. 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// QueueWait is how long a request waits for a backend; 0 means 30 s.
	QueueWait time.Duration
	// MaxInflatedBody bounds the size of a gzip request body once
	// inflated; a larger one is answered 413. 0 means
	// DefaultMaxInflatedBody.
	MaxInflatedBody int64
	// Backends, when set, is kept up to date with how many backends run
	// and how many requests wait for one, for metrics.
	Backends *Backends

	// backendExited, when set by tests, is told each backend's process id
	// and the result of waiting for it.
	backendExited func(pid int, err error)
}

// NewHandler returns the smart HTTP handler for the repositories in
// cfg.Repos. It serves /<namespace>/<project>[.git]/info/refs?service=...,
// POST .../git-upload-pack and POST .../git-receive-pack at the root of its
// URL space, and everything else as ErrNotFound. It panics if cfg.Repos or
// cfg.Authorize is nil, which is a wiring mistake.
func NewHandler(cfg Config) http.Handler {
	if cfg.Repos == nil || cfg.Authorize == nil {
		panic("githttp: NewHandler needs Repos and Authorize")
	}
	if cfg.OnError == nil {
		cfg.OnError = DefaultOnError
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = 30 * time.Second
	}
	if cfg.MaxInflatedBody <= 0 {
		cfg.MaxInflatedBody = DefaultMaxInflatedBody
	}
	if cfg.Backends == nil {
		cfg.Backends = &Backends{}
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = remoteHost
	}
	h := &handler{cfg: cfg}
	if cfg.MaxBackends > 0 {
		anon := cfg.MaxAnonymousBackends
		if anon <= 0 {
			anon = max(1, cfg.MaxBackends/4)
		}
		h.authed = newPool(cfg.MaxBackends, cfg.MaxPerClient)
		h.anon = newPool(anon, cfg.MaxPerClient)
	}
	return h
}

// DefaultStallTimeout is Config.StallTimeout's default: a client that takes
// none of a clone for this long is not reading it.
const DefaultStallTimeout = 20 * time.Second

// ErrClientBusy is answered when the requests of one client address already
// hold or wait for their share of the backends (Config.MaxPerClient): a
// 429, so one address can't queue out the others.
var ErrClientBusy = &tokens.Error{Kind: tokens.KindLimited, Message: "too many git requests from your address at once, retry later", RetryAfter: 10 * time.Second}

// DefaultMaxInflatedBody is Config.MaxInflatedBody's default: far more
// than the wants and haves of a fetch of a repository with a hundred
// thousand refs.
const DefaultMaxInflatedBody = 10 << 20

// ErrBusy is answered when every backend is taken for longer than
// Config.QueueWait: a 503 whose Retry-After lets a queue drain.
var ErrBusy = &tokens.Error{Kind: tokens.KindUnavailable, Message: "too many git requests at once, retry later", RetryAfter: 10 * time.Second}

// DefaultOnError writes err as git clients read it: the status the error
// pipeline gives it (404 for ErrNotFound, 503 with Retry-After for
// ErrBusy), a Basic challenge on 401, and a line of text, which git shows
// the user; internal failures say no more than their status.
func DefaultOnError(w http.ResponseWriter, r *http.Request, err error) {
	WriteError(w, httperr.Classify(err))
}

// WriteError writes a classified error in git's format; it is the git
// surface's one writer.
func WriteError(w http.ResponseWriter, p httperr.Problem) {
	p.SetHeaders(w.Header())
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+httperr.Realm+`"`)
	}
	msg := p.Message
	switch {
	case p.Status >= 500 && p.Status != http.StatusServiceUnavailable:
		msg = "internal server error"
	case msg == "":
		msg = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	w.Write([]byte(msg + "\n"))
}

type handler struct {
	cfg Config
	// The backend slots of requests with credentials and of anonymous
	// ones; nil without a bound.
	authed, anon *pool
}

// pool is one bound on running backends, with its share per client
// address.
type pool struct {
	slots     chan struct{} // one per running backend
	perClient int

	mu     sync.Mutex
	byAddr map[string]int // requests holding or waiting for a slot
}

func newPool(n, perClient int) *pool {
	if perClient <= 0 {
		perClient = max(1, n/4)
	}
	return &pool{slots: make(chan struct{}, n), perClient: perClient, byAddr: map[string]int{}}
}

// enter counts one more request of addr, or answers false when addr has
// its share already.
func (p *pool) enter(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byAddr[addr] >= p.perClient {
		return false
	}
	p.byAddr[addr]++
	return true
}

func (p *pool) leave(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byAddr[addr]--; p.byAddr[addr] <= 0 {
		delete(p.byAddr, addr)
	}
}

// Backends counts a handler's git http-backend processes: those running
// and the requests waiting for a slot (Config.MaxBackends). It is safe for
// concurrent use.
type Backends struct {
	busy, waiting atomic.Int64
}

// Busy answers how many backends run now.
func (b *Backends) Busy() int64 { return b.busy.Load() }

// Waiting answers how many requests wait for a backend now.
func (b *Backends) Waiting() int64 { return b.waiting.Load() }

// acquire waits for a backend slot of r's pool and answers its release,
// or an error when r's address has its share already (ErrClientBusy), the
// wait ran out (ErrBusy) or the client left.
func (h *handler) acquire(r *http.Request) (release func(), err error) {
	p := h.authed
	if anonymous(r) {
		p = h.anon
	}
	if p == nil {
		return func() {}, nil
	}
	addr := h.cfg.ClientAddr(r)
	if !p.enter(addr) {
		return nil, ErrClientBusy
	}
	release = func() {
		<-p.slots
		p.leave(addr)
	}
	select {
	case p.slots <- struct{}{}:
		return release, nil
	default:
	}
	h.cfg.Backends.waiting.Add(1)
	defer h.cfg.Backends.waiting.Add(-1)
	t := time.NewTimer(h.cfg.QueueWait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		err = ErrBusy
	case <-r.Context().Done():
		err = r.Context().Err()
	}
	p.leave(addr)
	return nil, err
}

// anonymous reports whether r, which Authorize let in, came without
// credentials. Authorize refuses credentials it can't check, so a request
// that carries some and got in is not anonymous.
func anonymous(r *http.Request) bool { return r.Header.Get("Authorization") == "" }

func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// gitRequest is a request that passed routing and path syntax checks.
type gitRequest struct {
	project string // as written in the URL, without .git
	route   string // routeInfoRefs, routeUploadPack or routeReceivePack
	service string // git-upload-pack or git-receive-pack
	op      Op
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Nothing here may be cached, errors included; these are the headers
	// git http-backend sends with its own responses.
	setNoCache(w.Header())

	req, ok := parseRequest(r)
	if !ok {
		h.cfg.OnError(w, r, fmt.Errorf("%w: no git route at %q", ErrNotFound, r.URL.Path))
		return
	}
	canonical, err := h.cfg.Authorize(r, req.project, req.op)
	if err != nil {
		h.cfg.OnError(w, r, err)
		return
	}
	// The server's read deadline, if any, bounds how long a body may take.
	// An authorized push's pack may take longer: lift it. A fetch's body
	// (wants and haves) is small and keeps it, so a client that stalls
	// part way can't hold git processes, anonymous ones on public
	// projects included. The answer is not bound by it: the backend runs
	// full duplex, so net/http does not read the connection (and time
	// out) behind a long answer.
	if req.op == OpPush {
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	}
	if err := ValidProjectPath(canonical); err != nil {
		// Authorize answered a path we cannot serve: a bug or bad data
		// on the auth side, so 500 rather than 404.
		h.cfg.Logger.Error("githttp: authorize returned an invalid canonical path",
			"project", req.project, "canonical", canonical, "err", err)
		h.cfg.OnError(w, r, fmt.Errorf("authorize returned invalid canonical path: %w", err))
		return
	}
	_, err = h.cfg.Repos.Dir(canonical)
	if errors.Is(err, fs.ErrNotExist) && req.op == OpPush {
		// An authorized project without a repository is one whose creation
		// was cut short (a crash between the store and git init): nothing
		// was ever pushed to it, and its first push makes it.
		if err = h.cfg.Repos.Ensure(r.Context(), canonical); err == nil {
			h.cfg.Logger.Warn("githttp: created the missing repository of a project", "project", canonical)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			h.cfg.Logger.Error("githttp: repository lookup", "project", canonical, "err", err)
		}
		h.cfg.OnError(w, r, err)
		return
	}
	release, err := h.acquire(r)
	if err != nil {
		switch {
		case errors.Is(err, ErrBusy):
			h.cfg.Logger.Warn("githttp: every backend is busy", "project", canonical, "anonymous", anonymous(r))
			h.cfg.OnError(w, r, err)
		case errors.Is(err, ErrClientBusy):
			h.cfg.Logger.Info("githttp: a client address has its share of backends",
				"project", canonical, "client", h.cfg.ClientAddr(r), "anonymous", anonymous(r))
			h.cfg.OnError(w, r, err)
		}
		return // otherwise the client left
	}
	defer release()
	h.cfg.Backends.busy.Add(1)
	defer h.cfg.Backends.busy.Add(-1)
	h.serveBackend(w, r, canonical, req)
}

// parseRequest maps a request onto a smart HTTP route. Only the escaped
// form of the path is trusted: a path with any percent-encoding (%2e%2e,
// %2f, %00, ...) or a character that needs one is refused, which no git
// client sends for a valid project path.
func parseRequest(r *http.Request) (gitRequest, bool) {
	if r.URL.EscapedPath() != r.URL.Path {
		return gitRequest{}, false
	}
	project, route, ok := ParsePath(r.URL.Path)
	if !ok {
		return gitRequest{}, false
	}
	req := gitRequest{project: project, route: route}
	switch {
	case route == routeInfoRefs && r.Method == http.MethodGet:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return gitRequest{}, false
		}
		// Without service= this is the dumb protocol, which we do not
		// serve.
		req.service = q.Get("service")
	case route == routeUploadPack && r.Method == http.MethodPost,
		route == routeReceivePack && r.Method == http.MethodPost:
		req.service = route
	default:
		return gitRequest{}, false
	}
	switch req.service {
	case "git-upload-pack":
		req.op = OpFetch
	case "git-receive-pack":
		req.op = OpPush
	default:
		return gitRequest{}, false
	}
	return req, true
}

// backendPathInfo is the PATH_INFO given to http-backend; it is built from
// the canonical path only, never from the request's path.
func backendPathInfo(canonical, route string) string {
	return "/" + canonical + ".git/" + route
}

func setNoCache(h http.Header) {
	h.Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
	h.Set("Pragma", "no-cache")
	h.Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
}

// remoteUser is the Basic auth user name, if it is safe to put into an
// environment variable; http-backend records it as the pusher in reflogs.
func remoteUser(r *http.Request) string {
	u, _, ok := r.BasicAuth()
	if !ok || u == "" || len(u) > 255 {
		return ""
	}
	if strings.ContainsFunc(u, isControl) {
		return ""
	}
	return u
}

func isControl(c rune) bool { return c < 0x20 || c == 0x7f }

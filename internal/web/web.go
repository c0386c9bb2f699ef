package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/auth"
	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/internal/httpreq"
	"github.com/deploytokens/deploytokens/tokens"
)

// Authenticator checks a username and a personal access token, and the
// token a session was opened with, again, by its digest.
type Authenticator interface {
	Check(ctx context.Context, username, secret string) (auth.Principal, error)
	CheckPATDigest(ctx context.Context, digest []byte) (auth.Principal, error)
}

// Limiter counts failed sign-ins per client address and refuses banned
// addresses, sharing its counters with the git and registry endpoints.
type Limiter interface {
	Check(ctx context.Context, addr string) error
	Fail(ctx context.Context, addr string)
}

// Handler serves the web pages. Mount Serve on every path that no other
// handler owns: it answers its own 404 page for the rest.
type Handler struct {
	Service *tokens.Service
	Auth    Authenticator
	// Limiter, when set, bans addresses after too many failed sign-ins.
	Limiter Limiter
	// ExternalURL is where browsers and clients reach this server: clone
	// URLs, and cookies are Secure when it is https.
	ExternalURL *url.URL
	// RegistryHost is host[:port] of the container registry.
	RegistryHost string
	// SessionTTL is how long a session lasts (DefaultSessionTTL when 0).
	SessionTTL time.Duration
	Logger     *slog.Logger
}

// maxFormBytes bounds a form body; the largest real one is a few hundred
// bytes.
const maxFormBytes = 64 << 10

// request is one web request with who sent it.
type request struct {
	c       echo.Context
	route   route
	secret  string   // session secret from the cookie ("" when none)
	session *session // nil when signed out
	user    *tokens.User
	anon    string // pre-session CSRF value
	flash   *flash // taken by the pages that may show it
}

func (rq *request) ctx() context.Context { return rq.c.Request().Context() }

func (rq *request) actor() *tokens.Actor {
	return &tokens.Actor{User: *rq.user, Scopes: rq.session.Scopes}
}

// csrfBase is what this request's form tokens are bound to.
func (rq *request) csrfBase() string {
	if rq.session != nil {
		return rq.secret
	}
	return rq.anon
}

// Serve answers a web request. It renders its own errors as HTML pages and
// always answers nil, so the server's JSON error handler never sees them.
func (h *Handler) Serve(c echo.Context) error {
	r, ok := parseRoute(c.Request().URL.Path)
	rq := &request{c: c, route: r}
	if !ok {
		// Only to show who is signed in on the 404 page; a store error
		// must not turn a 404 into a 503.
		_ = h.loadUser(rq)
		h.renderError(rq, errNotFound)
		return nil
	}
	if r.kind == routeAsset {
		h.serveAsset(c, r.asset)
		return nil
	}
	if err := h.serve(rq); err != nil {
		h.renderError(rq, err)
	}
	return nil
}

func (h *Handler) serve(rq *request) error {
	req := rq.c.Request()
	methods := rq.route.methods()
	if !slices.Contains(methods, req.Method) {
		rq.c.Response().Header().Set("Allow", strings.Join(methods, ", "))
		return errMethod
	}
	if err := h.loadUser(rq); err != nil {
		return err
	}
	if req.Method == http.MethodPost {
		ct, _, err := httpreq.ParseBodyType(req.Header)
		if err != nil {
			title := "Bad request"
			if err.Status == http.StatusUnsupportedMediaType {
				title = "Unsupported body"
			}
			return page(err.Status, title, err.Message+".")
		}
		if ct != "application/x-www-form-urlencoded" {
			return errNotForm
		}
		req.Body = http.MaxBytesReader(rq.c.Response(), req.Body, maxFormBytes)
		if err := req.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return errTooLarge
			}
			return errBadForm
		}
		if !h.checkCSRF(req, rq.csrfBase()) {
			return errCSRF
		}
		if k := httpreq.Repeated(req.PostForm, "scopes"); k != "" {
			return page(http.StatusBadRequest, "Bad request", "The form gave "+strconv.Quote(k)+" more than once.")
		}
	}
	switch rq.route.kind {
	case routeSignIn:
		if req.Method == http.MethodPost {
			return h.signIn(rq)
		}
		return h.signInPage(rq)
	case routeSignOut:
		return h.signOut(rq)
	}
	if rq.user == nil {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			return errCSRF
		}
		target := h.base() + "/users/sign_in"
		if req.URL.Path != "/" {
			target += "?" + url.Values{"redirect_to": {req.URL.Path}}.Encode()
		}
		return rq.c.Redirect(http.StatusSeeOther, target)
	}
	if req.Method == http.MethodGet {
		// The page a POST redirects to takes that POST's flash, so a
		// token's secret is shown at most once.
		id := req.URL.Query().Get("flash")
		if id != "" && !validFlashID(id) {
			return page(http.StatusBadRequest, "Bad request", "The flash parameter is not one this site gave.")
		}
		f, err := h.takeFlash(rq.ctx(), rq.secret, id)
		if err != nil {
			return err
		}
		rq.flash = f
	}
	switch rq.route.kind {
	case routeHome:
		return h.home(rq)
	case routeProject:
		return h.project(rq)
	case routeSettings:
		return h.settings(rq)
	case routeAuditEvents:
		return h.auditEvents(rq)
	case routeCreateToken:
		return h.createToken(rq)
	case routeRevokeToken:
		if req.Method == http.MethodPost {
			return h.revokeToken(rq)
		}
		return h.revokePage(rq)
	case routeRotateToken:
		if req.Method == http.MethodPost {
			return h.rotateToken(rq)
		}
		return h.rotatePage(rq, "", http.StatusOK)
	case routeCreateIdentity:
		return h.createIdentity(rq)
	case routeDeleteIdentity:
		return h.deleteIdentity(rq)
	}
	return errNotFound
}

// loadUser finds the session and its user; a cookie that names no
// session is deleted.
func (h *Handler) loadUser(rq *request) error {
	c := rq.c
	if ck, err := c.Cookie(csrfCookie); err == nil && validAnonCSRF(ck.Value) {
		rq.anon = ck.Value
	}
	ck, err := c.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s, err := h.loadSession(rq.ctx(), ck.Value)
	if err != nil {
		return err
	}
	if s == nil {
		c.SetCookie(h.cookie(sessionCookie, "", -1))
		return nil
	}
	// The token the session was opened with must still be good: revoking
	// it, or replacing the admin token, ends the session.
	p, err := auth.Principal{}, error(auth.ErrDenied)
	if len(s.PATDigest) > 0 {
		p, err = h.Auth.CheckPATDigest(rq.ctx(), s.PATDigest)
	}
	if errors.Is(err, auth.ErrDenied) || (err == nil && p.User.ID != s.UserID) {
		if err := h.deleteSession(rq.ctx(), ck.Value); err != nil {
			return err
		}
		c.SetCookie(h.cookie(sessionCookie, "", -1))
		return nil
	}
	if err != nil {
		return err
	}
	rq.secret, rq.session, rq.user = ck.Value, s, p.User
	return nil
}

// base answers the path prefix of ExternalURL ("" at the root), so links
// stay right behind a proxy that serves this server under a prefix.
func (h *Handler) base() string {
	return strings.TrimSuffix(h.ExternalURL.Path, "/")
}

func (h *Handler) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// pageError is a failure of the web surface itself, with the title of its
// page. Its status is an *httperr.Error's, so the one error pipeline
// classifies it as it does any other.
type pageError struct {
	http  *httperr.Error
	Title string
}

func (e *pageError) Error() string   { return e.Title }
func (e *pageError) Unwrap() error   { return e.http }
func (e *pageError) Status() int     { return e.http.Status }
func (e *pageError) Message() string { return e.http.Message }

func page(status int, title, msg string) *pageError {
	return &pageError{http: &httperr.Error{Status: status, Message: msg}, Title: title}
}

var (
	errNotFound = page(http.StatusNotFound, "Page not found",
		"The page could not be found or you don't have permission to view it.")
	errCSRF = page(http.StatusForbidden, "Form expired",
		"The form was not sent from this site's current page, or your session ended. Go back, reload the page and try again.")
	errReadOnly = page(http.StatusForbidden, "Read-only session",
		"You signed in with a read_api personal access token, which can look but not change anything. Sign in again with an api token.")
	errMethod   = page(http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept that request method.")
	errTooLarge = page(http.StatusRequestEntityTooLarge, "Form too large", "The form sent was too large.")
	errBadForm  = page(http.StatusBadRequest, "Bad request", "The form could not be read.")
	errNotForm  = page(http.StatusUnsupportedMediaType, "Not a form", "This page takes the forms it shows (application/x-www-form-urlencoded).")
	errInternal = page(http.StatusInternalServerError, "Something went wrong", "The server failed to answer this request. Try again later.")
	errDown     = page(http.StatusServiceUnavailable, "Temporarily unavailable", "The store is unreachable. Try again in a moment.")
)

// renderError answers err as an HTML page, the web surface's one writer:
// the status and Retry-After the error pipeline gives it, the page's own
// title for a pageError, a generic page for internal failures, whose
// details go to the log.
func (h *Handler) renderError(rq *request, err error) {
	p := httperr.Classify(err)
	httperr.Log(rq.ctx(), h.log(), rq.c.Request(), err, p)
	pe := errorPage(err, p)
	p.SetHeaders(rq.c.Response().Header())
	h.render(rq, pe.Status(), "error", pe.Title, pe)
}

// errorPage answers the page that shows err, classified as p.
func errorPage(err error, p httperr.Problem) *pageError {
	if pe, ok := errors.AsType[*pageError](err); ok {
		return pe
	}
	switch {
	case p.Status == http.StatusServiceUnavailable:
		return errDown
	case p.Status >= 500:
		return errInternal
	case p.Domain != nil && (p.Domain.Kind == tokens.KindNotFound || p.Domain.Kind == tokens.KindForbidden):
		// A page a user may not see does not exist for them.
		return errNotFound
	case p.Router:
		return page(p.Status, http.StatusText(p.Status), http.StatusText(p.Status)+".")
	}
	return page(p.Status, http.StatusText(p.Status), p.Message)
}

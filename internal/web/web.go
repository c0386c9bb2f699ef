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
		ct, _, err := tokens.ParseBodyType(req.Header)
		if err != nil {
			title := "Bad request"
			if err.Status == http.StatusUnsupportedMediaType {
				title = "Unsupported body"
			}
			return &pageError{Status: err.Status, Title: title, Message: err.Message + "."}
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
		if k := tokens.Repeated(req.PostForm, "scopes"); k != "" {
			return &pageError{Status: http.StatusBadRequest, Title: "Bad request",
				Message: "The form gave " + strconv.Quote(k) + " more than once."}
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
			return &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: "The flash parameter is not one this site gave."}
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
	case routeCreateToken:
		return h.createToken(rq)
	case routeRevokeToken:
		if req.Method == http.MethodPost {
			return h.revokeToken(rq)
		}
		return h.revokePage(rq)
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

// pageError is a failure shown to the user as an error page.
type pageError struct {
	Status  int
	Title   string
	Message string
}

func (e *pageError) Error() string { return e.Title }

var (
	errNotFound = &pageError{Status: http.StatusNotFound, Title: "Page not found",
		Message: "The page could not be found or you don't have permission to view it."}
	errCSRF = &pageError{Status: http.StatusForbidden, Title: "Form expired",
		Message: "The form was not sent from this site's current page, or your session ended. Go back, reload the page and try again."}
	errReadOnly = &pageError{Status: http.StatusForbidden, Title: "Read-only session",
		Message: "You signed in with a read_api personal access token, which can look but not change anything. Sign in again with an api token."}
	errMethod   = &pageError{Status: http.StatusMethodNotAllowed, Title: "Method not allowed", Message: "This page does not accept that request method."}
	errTooLarge = &pageError{Status: http.StatusRequestEntityTooLarge, Title: "Form too large", Message: "The form sent was too large."}
	errBadForm  = &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: "The form could not be read."}
	errNotForm  = &pageError{Status: http.StatusUnsupportedMediaType, Title: "Not a form", Message: "This page takes the forms it shows (application/x-www-form-urlencoded)."}
)

// renderError answers err as an HTML page: its own status for pageError
// and the domain's 4xx errors, a generic page for the rest, whose details
// go to the log.
func (h *Handler) renderError(rq *request, err error) {
	pe := errorPage(err)
	if pe.Status >= 500 {
		h.log().ErrorContext(rq.ctx(), "web request failed", "err", err, "path", rq.c.Request().URL.Path,
			"request_id", rq.c.Response().Header().Get(echo.HeaderXRequestID))
	}
	if pe.Status == http.StatusTooManyRequests || pe.Status == http.StatusServiceUnavailable {
		var ae *auth.Error
		retry := "1"
		if errors.As(err, &ae) && ae.RetryAfter > 0 {
			retry = strconvSeconds(ae.RetryAfter)
		}
		rq.c.Response().Header().Set("Retry-After", retry)
	}
	h.render(rq, pe.Status, "error", pe.Title, pe)
}

func errorPage(err error) *pageError {
	var (
		pe *pageError
		de *tokens.Error
		ae *auth.Error
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, tokens.ErrUnavailable), errors.Is(err, auth.ErrUnavailable):
		return &pageError{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable",
			Message: "The store is unreachable. Try again in a moment."}
	case errors.As(err, &de) && de.Status < 500:
		if de.Status == http.StatusNotFound || de.Status == http.StatusForbidden {
			// A page a user may not see does not exist for them.
			return errNotFound
		}
		return &pageError{Status: de.Status, Title: http.StatusText(de.Status), Message: de.Message}
	case errors.As(err, &ae) && ae.Status < 500:
		return &pageError{Status: ae.Status, Title: http.StatusText(ae.Status), Message: ae.Message}
	case errors.As(err, &he) && he.Code < 500:
		return &pageError{Status: he.Code, Title: http.StatusText(he.Code), Message: http.StatusText(he.Code) + "."}
	}
	return &pageError{Status: http.StatusInternalServerError, Title: "Something went wrong",
		Message: "The server failed to answer this request. Try again later."}
}

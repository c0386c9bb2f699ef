package httperr

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// Error is a failure of the HTTP exchange itself, which the domain has no
// word for: a method a route does not take (405), a body too large (413)
// or of a type the route does not read (415), a request that does not
// parse (400). Code, when set, is the registry error code; otherwise it is
// derived from the status.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// New answers an *Error with status and message.
func New(status int, msg string) *Error { return &Error{Status: status, Message: msg} }

// BadRequest answers a 400 with msg.
func BadRequest(msg string) *Error { return New(http.StatusBadRequest, msg) }

// Problem is what every surface needs to answer an error: the status, the
// error itself when it is one a client may read (nil for an internal
// failure, whose details go to the log only), and Retry-After.
type Problem struct {
	Status int
	// Domain is err's *tokens.Error, when it is one.
	Domain *tokens.Error
	// HTTP is err's *Error, when it is one.
	HTTP *Error
	// Message is the client-readable message; "" for 5xx but 503.
	Message string
	// Code is the registry error code.
	Code string
	// RetryAfter is the Retry-After header's value, "" for none.
	RetryAfter string
	// Router is set when the error is echo's own (no route, a method not
	// routed), whose message is only the status text.
	Router bool
}

// statusOf maps a domain kind to its status: the one table of the server.
var statusOf = [...]int{
	tokens.KindInternal:          http.StatusInternalServerError,
	tokens.KindInvalid:           http.StatusBadRequest,
	tokens.KindUnauthenticated:   http.StatusUnauthorized,
	tokens.KindForbidden:         http.StatusForbidden,
	tokens.KindInsufficientScope: http.StatusForbidden,
	tokens.KindNotFound:          http.StatusNotFound,
	tokens.KindConflict:          http.StatusConflict,
	tokens.KindLimited:           http.StatusTooManyRequests,
	tokens.KindUnavailable:       http.StatusServiceUnavailable,
	tokens.KindInvalidGrant:      http.StatusBadRequest,
}

func statusFor(k tokens.Kind) int {
	if int(k) < len(statusOf) && statusOf[k] != 0 {
		return statusOf[k]
	}
	return http.StatusInternalServerError
}

// Classify maps any error to its Problem. Store outages become 503 (never
// a 401 or 404 that blames the caller), errors of no known type 500.
func Classify(err error) Problem {
	var (
		p    Problem
		wait time.Duration
	)
	if de, ok := errors.AsType[*tokens.Error](err); ok {
		p.Domain, p.Status, p.Message, wait = de, statusFor(de.Kind), de.Error(), de.RetryAfter
		p.Code = codeOf(de.Kind, p.Status)
	} else if he, ok := errors.AsType[*Error](err); ok {
		p.HTTP, p.Status, p.Message, p.Code, wait = he, he.Status, he.Message, he.Code, he.RetryAfter
	} else if ee, ok := errors.AsType[*echo.HTTPError](err); ok && ee.Code < 500 {
		// echo's own answers: no route, or a method it does not route.
		p.HTTP = &Error{Status: ee.Code, Message: http.StatusText(ee.Code)}
		p.Status, p.Message, p.Router = ee.Code, p.HTTP.Message, true
	} else if errors.Is(err, tokens.ErrUnavailable) {
		p.Domain = &tokens.Error{Kind: tokens.KindUnavailable, Message: "the store is unreachable, retry later"}
		p.Status, p.Message, p.Code = http.StatusServiceUnavailable, p.Domain.Message, "UNAVAILABLE"
	} else {
		p.Status, p.Code = http.StatusInternalServerError, "UNKNOWN"
	}
	if p.Code == "" {
		p.Code = codeOf(tokens.KindInternal, p.Status)
	}
	if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
		// An internal failure's text is for the log, never the client.
		p.Message = ""
	}
	if p.Status == http.StatusTooManyRequests || p.Status == http.StatusServiceUnavailable {
		p.RetryAfter = retryAfter(wait)
	}
	return p
}

// Status answers the HTTP status err stands for.
func Status(err error) int { return Classify(err).Status }

// retryAfter is Retry-After in whole seconds, rounded up so a client that
// obeys it is not refused again; a second when the wait is unknown.
func retryAfter(d time.Duration) string {
	if d <= 0 {
		return "1"
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// codeOf answers the registry error code (distribution's errcode names)
// of a kind, or of a status when the kind says nothing more.
func codeOf(k tokens.Kind, status int) string {
	switch k {
	case tokens.KindInvalidGrant:
		return "INVALID_GRANT"
	case tokens.KindUnavailable:
		return "UNAVAILABLE"
	}
	switch status {
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "DENIED"
	case http.StatusNotFound:
		return "NAME_UNKNOWN"
	case http.StatusMethodNotAllowed:
		return "UNSUPPORTED"
	case http.StatusTooManyRequests:
		return "TOOMANYREQUESTS"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	if status >= 500 {
		return "UNKNOWN"
	}
	return "INVALID_REQUEST"
}

// SetHeaders sets the headers every surface sends with p: Retry-After.
func (p Problem) SetHeaders(h http.Header) {
	if p.RetryAfter != "" {
		h.Set("Retry-After", p.RetryAfter)
	}
}

// Realm is the realm of every challenge the server sends (Basic for git
// and the token endpoint, Bearer for the API).
const Realm = "deploytokens"

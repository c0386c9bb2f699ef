package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// Error is an authentication or authorization failure that knows its HTTP
// status, its registry error code and, for 401, the challenge to send.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// The failures callers see. Unknown users and wrong secrets share
// ErrDenied, so the two can't be told apart.
var (
	ErrDenied        = &Error{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "HTTP Basic: Access denied"}
	ErrNoRegistry    = &Error{Status: http.StatusForbidden, Code: "DENIED", Message: "access forbidden: the token has no registry scope"}
	ErrUnavailable   = &Error{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: "authentication is temporarily unavailable, retry later"}
	ErrNotFoundGit   = &Error{Status: http.StatusNotFound, Code: "NAME_UNKNOWN", Message: "Not Found"}
	ErrUploadDenied  = &Error{Status: http.StatusForbidden, Code: "DENIED", Message: "You are not allowed to upload code."}
	ErrPushDenied    = &Error{Status: http.StatusForbidden, Code: "DENIED", Message: "You are not allowed to push code to this project."}
	ErrNoGitScope    = &Error{Status: http.StatusForbidden, Code: "DENIED", Message: "You are not allowed to download code."}
	ErrGitBusy       = &Error{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: "too many git requests at once, retry later", RetryAfter: 10 * time.Second}
	errTooManyBase   = &Error{Status: http.StatusTooManyRequests, Code: "TOOMANYREQUESTS", Message: "too many failed authentication attempts from this address, retry later"}
	errMethod        = &Error{Status: http.StatusMethodNotAllowed, Code: "UNSUPPORTED", Message: "the token endpoint answers GET and POST only"}
	errInvalidFormat = "INVALID_REQUEST"
	// A Basic header that carries no username and password, or more than
	// one Authorization header, is a client's mistake, not a guess: 400,
	// not counted as a failed login.
	errMalformedBasic    = invalid("the Authorization header is not Basic base64(username:password) with a UTF-8 username")
	errTwoAuthorizations = invalid("the request has more than one Authorization header")
	// RFC 6749 §5.2's invalid_grant: unknown, unused for 30 days, or its
	// credential revoked or expired.
	errRefreshInvalid = &Error{Status: http.StatusBadRequest, Code: "INVALID_GRANT",
		Message: "the refresh token is unknown, unused for 30 days, or its credential was revoked or has expired: log in again"}
)

func invalid(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: errInvalidFormat, Message: msg}
}

func tooMany(retry time.Duration) *Error {
	e := *errTooManyBase
	e.RetryAfter = retry
	return &e
}

// classify turns any error into an *Error: store outages become 503 (never
// a 401 that blames the caller's credentials), unknown failures 500.
func classify(err error) *Error {
	var (
		e  *Error
		de *tokens.Error
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &de) && de.Status >= 400 && de.Status < 500:
		// Request validation shared with the rest of the server.
		return &Error{Status: de.Status, Code: codeFor(de.Status), Message: de.Message}
	case errors.As(err, &he) && he.Code >= 400 && he.Code < 500:
		// echo's own answers: no route, or a method it does not route.
		return &Error{Status: he.Code, Code: codeFor(he.Code), Message: strings.ToLower(http.StatusText(he.Code))}
	case errors.Is(err, tokens.ErrUnavailable):
		return ErrUnavailable
	}
	return &Error{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "internal server error"}
}

// codeFor answers the registry error code of a 4xx status.
func codeFor(status int) string {
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
	}
	return errInvalidFormat
}

// Renderer writes auth failures for one kind of client.
type Renderer struct {
	// Realm is the Basic realm in challenges.
	Realm string
}

func (rd Renderer) headers(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+rd.Realm+`"`)
	}
	switch {
	case e.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	case e.Status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
}

// WriteRegistry answers err as the token endpoint does:
// {"errors":[{"code","message"}]}.
func (rd Renderer) WriteRegistry(w http.ResponseWriter, err error) {
	e := classify(err)
	rd.headers(w, e)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Status)
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	json.NewEncoder(w).Encode(map[string][]item{"errors": {{e.Code, e.Message}}})
}

// WriteGit answers err as git clients expect: plain text, a Basic
// challenge on 401, the message git shows the user on 403.
func (rd Renderer) WriteGit(w http.ResponseWriter, err error) {
	e := classify(err)
	rd.headers(w, e)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(e.Status)
	w.Write([]byte(e.Message + "\n"))
}

// APIError converts an auth failure into the REST API's error.
func APIError(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return tokens.ErrUnauthorized
	case http.StatusServiceUnavailable:
		return tokens.ErrUnavailable
	case http.StatusTooManyRequests:
		return e // keeps RetryAfter for the response header
	}
	return &tokens.Error{Status: e.Status, Message: e.Message}
}

// StatusOf answers the HTTP status err stands for.
func StatusOf(err error) int { return classify(err).Status }

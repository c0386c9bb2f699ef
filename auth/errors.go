package auth

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/tokens"
)

// The failures callers see, as domain errors; each surface words them.
// Unknown users and wrong secrets share ErrDenied, so the two can't be
// told apart.
var (
	ErrDenied       = &tokens.Error{Kind: tokens.KindUnauthenticated, Message: "HTTP Basic: Access denied"}
	ErrNoRegistry   = tokens.Forbidden("access forbidden: the token has no registry scope")
	ErrUnavailable  = &tokens.Error{Kind: tokens.KindUnavailable, Message: "authentication is temporarily unavailable, retry later"}
	ErrNotFoundGit  = &tokens.Error{Kind: tokens.KindNotFound, Message: "Not Found"}
	ErrUploadDenied = tokens.Forbidden("You are not allowed to upload code.")
	ErrPushDenied   = tokens.Forbidden("You are not allowed to push code to this project.")
	ErrNoGitScope   = tokens.Forbidden("You are not allowed to download code.")
	errMethod       = &httperr.Error{Status: http.StatusMethodNotAllowed, Message: "the token endpoint answers GET and POST only"}
	// A Basic header that carries no username and password, or more than
	// one Authorization header, is a client's mistake, not a guess: 400,
	// not counted as a failed login.
	errMalformedBasic    = invalid("the Authorization header is not Basic base64(username:password) with a UTF-8 username")
	errTwoAuthorizations = invalid("the request has more than one Authorization header")
	// An empty username is what containerd sends after its refresh token
	// is refused: a client with nothing to present, not a malformed header
	// (a 400 would end the pull with a parse error) nor a guess (no failure
	// is counted). The 401 and its Basic challenge tell the user to log in
	// again.
	errNoUsername = &tokens.Error{Kind: tokens.KindUnauthenticated, Message: "HTTP Basic: Access denied: no username given, log in again"}
	// RFC 6749 §5.2's invalid_grant: unknown, unused for 30 days, or its
	// credential revoked or expired.
	errRefreshInvalid = &tokens.Error{Kind: tokens.KindInvalidGrant,
		Message: "the refresh token is unknown, unused for 30 days, or its credential was revoked or has expired: log in again"}
)

func invalid(msg string) *tokens.Error { return &tokens.Error{Kind: tokens.KindInvalid, Message: msg} }

func tooMany(retry time.Duration) *tokens.Error {
	return &tokens.Error{Kind: tokens.KindLimited, RetryAfter: retry,
		Message: "too many failed authentication attempts from this address, retry later"}
}

// WriteRegistry answers an error of the token endpoint as registry
// clients read it: {"errors":[{"code","message"}]}, with a Basic challenge
// on 401. It is the registry surface's httperr.WriteFunc.
func WriteRegistry(c echo.Context, _ error, p httperr.Problem) {
	h := c.Response().Header()
	p.SetHeaders(h)
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="`+httperr.Realm+`"`)
	}
	msg := p.Message
	switch {
	case p.Router:
		msg = strings.ToLower(msg)
	case p.Status >= 500 && p.Status != http.StatusServiceUnavailable:
		msg = "internal server error"
	case p.Status == http.StatusServiceUnavailable && p.Domain != nil && p.Domain.RetryAfter == 0:
		msg = ErrUnavailable.Message
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	c.Response().WriteHeader(p.Status)
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	json.NewEncoder(c.Response()).Encode(map[string][]item{"errors": {{p.Code, msg}}})
}

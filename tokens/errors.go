package tokens

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a failure the caller can act on: it carries its HTTP status and a
// message that names the problem (and the field, for bad input). Errors
// that are not *Error are internal and answered with a generic 500 or, for
// ErrUnavailable, 503.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Invalid answers a 400 naming the field at fault.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Message: field + " " + fmt.Sprintf(format, args...)}
}

// Errors the API answers as GitLab words them.
var (
	ErrUnauthorized     = &Error{Status: http.StatusUnauthorized, Message: "401 Unauthorized"}
	ErrForbidden        = &Error{Status: http.StatusForbidden, Message: "403 Forbidden"}
	ErrInsufficientAuth = &Error{Status: http.StatusForbidden, Message: "insufficient_scope: the token needs the api scope"}
	ErrProjectNotFound  = &Error{Status: http.StatusNotFound, Message: "404 Project Not Found"}
	ErrUserNotFound     = &Error{Status: http.StatusNotFound, Message: "404 User Not Found"}
	ErrMemberNotFound   = &Error{Status: http.StatusNotFound, Message: "404 Member Not Found"}
	ErrTokenNotFound    = &Error{Status: http.StatusNotFound, Message: "404 Deploy Token Not Found"}
	ErrPATNotFound      = &Error{Status: http.StatusNotFound, Message: "404 Personal Access Token Not Found"}
)

// StatusOf answers the HTTP status err stands for.
func StatusOf(err error) int {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Status
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

package tokens

import (
	"errors"
	"fmt"
	"time"
)

// Kind says what went wrong, in the domain's words. The HTTP surfaces map
// each kind to a status in one place (internal/httperr); the domain never
// names a status.
type Kind uint8

// The kinds of failure a caller can act on. The zero Kind is an internal
// failure: the caller can do nothing but retry later.
const (
	KindInternal Kind = iota
	// KindInvalid is bad input; the message names the field.
	KindInvalid
	// KindUnauthenticated is a missing or refused credential.
	KindUnauthenticated
	// KindForbidden is a known caller who may not do this.
	KindForbidden
	// KindInsufficientScope is a credential whose scopes do not allow this,
	// although its owner might.
	KindInsufficientScope
	// KindNotFound is a record that does not exist, or that the caller may
	// not know exists.
	KindNotFound
	// KindConflict is a write that collides with what is stored.
	KindConflict
	// KindLimited is a caller refused for a while (too many failures).
	KindLimited
	// KindUnavailable is a dependency (the store, git) that cannot answer
	// now; the caller should retry.
	KindUnavailable
	// KindInvalidGrant is a grant (a refresh token) that is unknown, idle
	// for too long, or whose credential died: the client must
	// authenticate again.
	KindInvalidGrant
)

// Error is a failure the caller can act on. Errors that are not *Error
// are internal, except ErrUnavailable and what wraps it.
type Error struct {
	Kind Kind
	// Subject names what was not found ("Project"), for KindNotFound.
	Subject string
	// Message says what went wrong, naming the field for KindInvalid. For
	// KindForbidden it is the reason, empty when there is none to give.
	Message string
	// RetryAfter, for KindLimited and KindUnavailable, is how long the
	// caller should wait; 0 when unknown.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Message == "" && e.Subject != "" {
		return e.Subject + " not found"
	}
	if e.Message == "" {
		return "forbidden"
	}
	return e.Message
}

// Invalid answers a KindInvalid error naming the field at fault.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Message: field + " " + fmt.Sprintf(format, args...)}
}

// Forbidden answers a KindForbidden error with its reason.
func Forbidden(format string, args ...any) *Error {
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(format, args...)}
}

// Conflict answers a KindConflict error.
func Conflict(msg string) *Error { return &Error{Kind: KindConflict, Message: msg} }

// Errors the service answers; the surfaces word them for their clients.
var (
	ErrUnauthorized     = &Error{Kind: KindUnauthenticated, Message: "unauthorized"}
	ErrForbidden        = &Error{Kind: KindForbidden}
	ErrInsufficientAuth = &Error{Kind: KindInsufficientScope, Message: "insufficient_scope: the token needs the api scope"}
	ErrProjectNotFound  = &Error{Kind: KindNotFound, Subject: "Project"}
	ErrUserNotFound     = &Error{Kind: KindNotFound, Subject: "User"}
	ErrMemberNotFound   = &Error{Kind: KindNotFound, Subject: "Member"}
	ErrTokenNotFound    = &Error{Kind: KindNotFound, Subject: "Deploy Token"}
	ErrPATNotFound      = &Error{Kind: KindNotFound, Subject: "Personal Access Token"}
)

// KindOf answers the kind of failure err stands for: its own for *Error,
// KindUnavailable for ErrUnavailable, KindInternal otherwise.
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	if errors.Is(err, ErrUnavailable) {
		return KindUnavailable
	}
	return KindInternal
}

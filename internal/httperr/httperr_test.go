package httperr

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name            string
		err             error
		status          int
		code, msg, wait string
	}{
		{name: "invalid field", err: tokens.Invalid("name", "is missing"), status: 400, code: "INVALID_REQUEST", msg: "name is missing"},
		{name: "unauthenticated", err: tokens.ErrUnauthorized, status: 401, code: "UNAUTHORIZED", msg: "unauthorized"},
		{name: "forbidden", err: tokens.Forbidden("no"), status: 403, code: "DENIED", msg: "no"},
		{name: "insufficient scope", err: tokens.ErrInsufficientAuth, status: 403, code: "DENIED", msg: tokens.ErrInsufficientAuth.Message},
		{name: "not found, wrapped", err: fmt.Errorf("get: %w", tokens.ErrProjectNotFound), status: 404, code: "NAME_UNKNOWN", msg: "Project not found"},
		{name: "conflict", err: tokens.Conflict("taken"), status: 409, code: "INVALID_REQUEST", msg: "taken"},
		{name: "limited rounds the wait up", err: &tokens.Error{Kind: tokens.KindLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, status: 429, code: "TOOMANYREQUESTS", msg: "slow down", wait: "2"},
		{name: "limited without a wait", err: &tokens.Error{Kind: tokens.KindLimited, Message: "slow down"}, status: 429, code: "TOOMANYREQUESTS", msg: "slow down", wait: "1"},
		{name: "busy", err: &tokens.Error{Kind: tokens.KindUnavailable, Message: "busy", RetryAfter: 10 * time.Second}, status: 503, code: "UNAVAILABLE", msg: "busy", wait: "10"},
		{name: "store outage", err: fmt.Errorf("get: %w", tokens.ErrUnavailable), status: 503, code: "UNAVAILABLE", msg: "the store is unreachable, retry later", wait: "1"},
		{name: "invalid grant", err: &tokens.Error{Kind: tokens.KindInvalidGrant, Message: "log in again"}, status: 400, code: "INVALID_GRANT", msg: "log in again"},
		{name: "http 415", err: New(http.StatusUnsupportedMediaType, "not json"), status: 415, code: "INVALID_REQUEST", msg: "not json"},
		{name: "http 405", err: New(http.StatusMethodNotAllowed, "no"), status: 405, code: "UNSUPPORTED", msg: "no"},
		{name: "echo's 404", err: echo.ErrNotFound, status: 404, code: "NAME_UNKNOWN", msg: "Not Found"},
		{name: "echo's 500 is internal", err: echo.ErrInternalServerError, status: 500, code: "UNKNOWN"},
		{name: "anything else", err: errors.New("disk on fire"), status: 500, code: "UNKNOWN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Classify(tc.err)
			if p.Status != tc.status || p.Code != tc.code || p.Message != tc.msg || p.RetryAfter != tc.wait {
				t.Errorf("Classify = status %d code %q message %q retry %q, want %d %q %q %q",
					p.Status, p.Code, p.Message, p.RetryAfter, tc.status, tc.code, tc.msg, tc.wait)
			}
		})
	}
}

// Every kind has a status, so a new kind can't silently answer 0.
func TestEveryKindHasAStatus(t *testing.T) {
	for k := tokens.KindInternal; k <= tokens.KindInvalidGrant; k++ {
		if int(k) >= len(statusOf) || statusOf[k] < 400 {
			t.Errorf("kind %d has no status", k)
		}
	}
}

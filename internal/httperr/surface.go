package httperr

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// WriteFunc renders err, classified as p, in one surface's format.
type WriteFunc func(c echo.Context, err error, p Problem)

// Surface declares the error format of the routes it is used on: an error
// a handler returns is classified once and written by write, and handed
// on (already answered) so the request log still records it. A panic in
// the handler is recovered and answered the same way, as a 500.
func Surface(write WriteFunc, log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if r := recover(); r != nil {
					if r == http.ErrAbortHandler {
						panic(r)
					}
					err = &panicError{v: r}
					log.ErrorContext(c.Request().Context(), "panic", "err", r, "route", c.Path(), "stack", string(debug.Stack()))
				}
				if err != nil && !c.Response().Committed {
					p := Classify(err)
					Log(c.Request().Context(), log, c.Request(), err, p)
					write(c, err, p)
				}
			}()
			return next(c)
		}
	}
}

type panicError struct{ v any }

func (e *panicError) Error() string { return "panic: " + strings.ToValidUTF8(anyString(e.v), "?") }

func anyString(v any) string {
	switch x := v.(type) {
	case error:
		return x.Error()
	case string:
		return x
	}
	return "unknown panic value"
}

// Log writes an internal failure (5xx other than a dependency's declared
// unavailability) to the server's log with what identifies the request;
// its details never reach the client.
func Log(ctx context.Context, log *slog.Logger, r *http.Request, err error, p Problem) {
	if p.Status < 500 || (p.Domain != nil && p.Domain.RetryAfter > 0) {
		return
	}
	if r.Context().Err() != nil {
		// The client left, and what it asked for failed with it (a
		// store call cancelled midway): routine, not the server's fault.
		log.DebugContext(ctx, "request abandoned by its client", "err", err, "method", r.Method, "path", TruncatePath(r.URL.Path))
		return
	}
	log.ErrorContext(ctx, "request failed", "err", err, "method", r.Method, "path", TruncatePath(r.URL.Path),
		"request_id", r.Header.Get(echo.HeaderXRequestID))
}

// maxLoggedPath bounds the request path in a log line: net/http reads
// request lines of up to a megabyte.
const maxLoggedPath = 1024

// TruncatePath cuts a path for a log line.
func TruncatePath(path string) string {
	if len(path) <= maxLoggedPath {
		return path
	}
	return strings.ToValidUTF8(path[:maxLoggedPath], "") + "...(" + strconv.Itoa(len(path)) + " bytes)"
}

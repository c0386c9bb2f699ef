package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Unmatched is the route label of a request no route matched.
const Unmatched = "unmatched"

// routeKey is the echo context key SetRoute writes.
const routeKey = "metrics.route"

// SetRoute names the route of the request in c for the request metrics,
// in place of the route template echo matched: for a catch-all route that
// serves several kinds of request (git's smart HTTP beside web pages).
// route must be one of a fixed set, never a value from the request.
func SetRoute(c echo.Context, route string) { c.Set(routeKey, route) }

// methods are the method label's values; any other method is "other", so a
// client can't make up a series.
var methods = map[string]string{
	http.MethodGet: http.MethodGet, http.MethodHead: http.MethodHead, http.MethodPost: http.MethodPost,
	http.MethodPut: http.MethodPut, http.MethodPatch: http.MethodPatch, http.MethodDelete: http.MethodDelete,
	http.MethodOptions: http.MethodOptions,
}

type requestKey struct {
	method, route string
	code          int
}

// requestSeries are the children of the request metrics for one label
// set, looked up once: the vectors would hash the labels on every request.
type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// Middleware counts and times every request by method, route and status.
// Register it first, before the request logger and the panic recovery:
// the status is the one the error handler wrote, and a handler's error that
// nothing rendered yet (a recovered panic) is rendered here, as echo would
// render it after the chain.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil && !c.Response().Committed {
				c.Error(err)
			}
			s := m.series(c)
			s.count.Inc()
			s.duration.Observe(time.Since(start).Seconds())
			return err
		}
	}
}

// series answers the request metrics' children for c's labels.
func (m *Metrics) series(c echo.Context) *requestSeries {
	method, ok := methods[c.Request().Method]
	if !ok {
		method = "other"
	}
	route := c.Path() // the template: what echo matched, never the path
	if r, ok := c.Get(routeKey).(string); ok {
		route = r
	}
	if route == "" {
		route = Unmatched
	}
	k := requestKey{method, route, c.Response().Status}
	if s, ok := m.requestSeries.Load(k); ok {
		return s.(*requestSeries)
	}
	code := strconv.Itoa(k.code)
	s, _ := m.requestSeries.LoadOrStore(k, &requestSeries{
		count:    m.requests.WithLabelValues(method, route, code),
		duration: m.duration.WithLabelValues(method, route, code),
	})
	return s.(*requestSeries)
}

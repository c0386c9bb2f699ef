package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/internal/metrics"
)

// BenchmarkMiddleware is what the request metrics add to a request through
// echo: compare "with" to "without".
func BenchmarkMiddleware(b *testing.B) {
	for _, with := range []bool{false, true} {
		name := "without"
		if with {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
			e := echo.New()
			if with {
				e.Use(metrics.New().Middleware())
			}
			e.GET("/jwt/auth", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
			req := httptest.NewRequest("GET", "/jwt/auth?service=x", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				e.ServeHTTP(w, req)
			}
		})
	}
}

func BenchmarkCountTokens(b *testing.B) {
	s := metrics.New().CountTokens(&fakeSigner{alg: "ES256"})
	b.ReportAllocs()
	for b.Loop() {
		s.Sign(jwt.MapClaims{})
	}
}

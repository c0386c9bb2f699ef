package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// cacheStats is a store with an in-memory cache that counts its hits and
// misses (tokens/cache, around the Redis store).
type cacheStats interface {
	Stats() (hits, misses uint64)
}

// listenMetrics opens the metrics listener when one is configured, so
// that a busy address stops the start, as the server's own does.
func (a *app) listenMetrics() error {
	if a.metrics == nil {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("--metrics-listen (DEPLOYTOKENS_METRICS_LISTEN): %w", err)
	}
	a.metricsLn = ln
	a.log.Info("metrics listening", "addr", ln.Addr().String(), "pprof", a.cfg.MetricsPprof)
	return nil
}

// serveMetrics serves the metrics listener, if any, until the function it
// answers is first called. A scrape or profile still running then is cut off:
// the server is stopping, so there is nothing left to measure.
func (a *app) serveMetrics() (stop func()) {
	if a.metricsLn == nil {
		return func() {}
	}
	srv := &http.Server{Handler: a.metrics.Handler(a.cfg.MetricsPprof), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: a.cfg.IdleTimeout, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(a.metricsLn); !errors.Is(err, http.ErrServerClosed) {
			// Metrics are not worth stopping the server for.
			a.log.Error("metrics listener failed", "err", err)
		}
	}()
	return sync.OnceFunc(func() {
		srv.Close()
		<-done
	})
}

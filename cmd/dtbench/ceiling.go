package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

// ceilingBody answers a JSON body of exactly size bytes shaped like a
// token answer.
func ceilingBody(size int) []byte {
	const head, tail = `{"token":"`, `"}`
	n := max(size-len(head)-len(tail)-1, 0) // -1: the newline json.Encoder adds
	return append(append(append([]byte(head), bytes.Repeat([]byte("x"), n)...), tail...), '\n')
}

// ceilingHandler answers /jwt/auth with body, through echo with no
// middleware.
func ceilingHandler(body []byte) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	answer := func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) }
	e.GET("/jwt/auth", answer)
	e.POST("/jwt/auth", answer)
	e.GET("/-/health", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	return e
}

// runCeiling is `dtbench ceiling`: the bare echo server whose throughput is
// the ceiling every scenario is compared with. It runs the same HTTP stack
// as deploytokens (net/http and echo, in its own process) with no
// middleware, no authentication and no store, and answers every request to
// /jwt/auth with a fixed body the size of a token answer.
func runCeiling(args []string) error {
	fs := flag.NewFlagSet("dtbench ceiling", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	size := fs.Int("size", 700, "size of the answer body in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("-listen %q: must be a loopback address", *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: ceilingHandler(ceilingBody(*size)), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

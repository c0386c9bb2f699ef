package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"strings"
	"time"

	jwt "github.com/golang-jwt/jwt/v5"
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
	return bareEcho(func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) })
}

// boundClaims are shaped like the claims of a registry token.
type boundClaims struct {
	jwt.RegisteredClaims
	Access []boundAccess `json:"access"`
}

type boundAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

type boundAnswer struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// boundHandler answers /jwt/auth with a fresh ES256 token for the scope
// asked, through echo with no middleware: no authentication, no store, no
// log. It is the bound, what the ceiling leaves once every answer pays one
// signature, so it does no more than a token needs: the header is encoded
// once, the claims and the signature (golang-jwt's ES256) for every
// answer. It does not yield first (runtime.Gosched): the server no longer
// does, and a bound that paid for a yield the server skips would not bound
// it.
func boundHandler(key *ecdsa.PrivateKey) http.Handler {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"JWT"}`))
	return bareEcho(func(c echo.Context) error {
		scope := c.FormValue("scope")
		typ, rest, _ := strings.Cut(scope, ":")
		name, actions, _ := strings.Cut(rest, ":")
		now := time.Now()
		claims := boundClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: "dtbench", Subject: c.FormValue("account"), Audience: jwt.ClaimStrings{c.FormValue("service")},
				ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
				IssuedAt: jwt.NewNumericDate(now), ID: rand.Text(),
			},
			Access: []boundAccess{{Type: typ, Name: name, Actions: strings.Split(actions, ",")}},
		}
		payload, err := json.Marshal(claims)
		if err != nil {
			return err
		}
		signing := header + "." + base64.RawURLEncoding.EncodeToString(payload)
		sig, err := jwt.SigningMethodES256.Sign(signing, key)
		if err != nil {
			return err
		}
		t := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
		return c.JSON(http.StatusOK, boundAnswer{Token: t, AccessToken: t, ExpiresIn: 300, IssuedAt: now.UTC().Format(time.RFC3339)})
	})
}

// bareEcho serves answer for GET and POST /jwt/auth through echo with no
// middleware, and a health check.
func bareEcho(answer echo.HandlerFunc) http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/jwt/auth", answer)
	e.POST("/jwt/auth", answer)
	e.GET("/-/health", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	return e
}

// runCeiling is `dtbench ceiling`: the ceiling, the same HTTP stack as
// deploytokens (net/http and echo, in a process of its own) answering
// every request to /jwt/auth with a fixed body the size of a token answer;
// with -sign, the bound.
func runCeiling(args []string) error {
	fs := flag.NewFlagSet("dtbench ceiling", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	size := fs.Int("size", 700, "size of the answer body in bytes")
	sign := fs.Bool("sign", false, "answer a fresh ES256 token instead of a fixed body (-size is ignored)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h := ceilingHandler(ceilingBody(*size))
	if *sign {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		h = boundHandler(key)
	}
	// SIGTERM ends it where it stands: it holds nothing to flush.
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// fedClock is a settable clock shared by the service, the authenticator
// and the verifier.
type fedClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *fedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now()
	}
	return c.at
}

func (c *fedClock) set(t time.Time) { c.mu.Lock(); c.at = t; c.mu.Unlock() }

// countingTransport counts the requests for each path it carries.
type countingTransport struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[path]
}

// fedEnv is a bolt store with project tanuki/app and its deploy tokens,
// trusted by federated identities of a real Hydra.
type fedEnv struct {
	authn *Authenticator
	svc   *tokens.Service
	admin *tokens.Actor
	hydra *testenv.Hydra
	clock *fedClock
	rt    *countingTransport
	logs  *strings.Builder
	logMu *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newFedEnv(t *testing.T, h *testenv.Hydra, issuers ...string) *fedEnv {
	t.Helper()
	ctx := t.Context()
	s := openKV(t)
	keys, err := tokens.NewKeys([]byte(strings.Repeat("federation test secret ", 2)))
	if err != nil {
		t.Fatal(err)
	}
	env := &fedEnv{hydra: h, clock: &fedClock{}, rt: &countingTransport{}, logs: &strings.Builder{}, logMu: &sync.Mutex{}}
	if len(issuers) == 0 {
		issuers = []string{h.Issuer}
	}
	env.svc = &tokens.Service{Store: s, Keys: keys, OIDCIssuers: issuers}
	env.authn = &Authenticator{Store: s, Keys: keys, Now: env.clock.now,
		Logger:  slog.New(slog.NewTextHandler(lockedWriter{env.logMu, env.logs}, nil)),
		Limiter: &Limiter{KV: s, Max: 1, Window: time.Hour, Ban: time.Hour},
		Federation: &Federation{Issuers: issuers, MaxAge: 2 * time.Hour, Now: env.clock.now,
			Client: &http.Client{Transport: env.rt, Timeout: 10 * time.Second}}}
	u := tokens.User{Username: "root", Admin: true}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	env.admin = &tokens.Actor{User: u, Scopes: []string{tokens.ScopeAPI}}
	if _, err := env.svc.CreateProject(ctx, env.admin, tokens.CreateProjectInput{Path: "app", NamespacePath: "tanuki", Visibility: "private"}); err != nil {
		t.Fatal(err)
	}
	return env
}

func (e *fedEnv) log() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.logs.String()
}

// token creates a deploy token of tanuki/app named username.
func (e *fedEnv) token(t *testing.T, username, expiresAt string) tokens.DeployToken {
	t.Helper()
	dt, _, err := e.svc.CreateDeployToken(t.Context(), e.admin, "tanuki/app", tokens.CreateDeployTokenInput{
		Name: username, Username: username, Scopes: []string{tokens.ScopeReadRegistry, tokens.ScopeReadRepository}, ExpiresAt: expiresAt})
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

func (e *fedEnv) trust(t *testing.T, dt tokens.DeployToken, issuer, aud string, claims map[string]string) {
	t.Helper()
	if _, err := e.svc.CreateFederatedIdentity(t.Context(), e.admin, false, "tanuki/app", dt.ID,
		tokens.FederatedIdentityInput{Issuer: issuer, Audience: aud, Claims: claims}); err != nil {
		t.Fatal(err)
	}
}

// forge signs claims with a key of its own under kid, or with alg none or
// HS256 when alg says so.
func forge(t *testing.T, alg, kid string, claims map[string]any) string {
	t.Helper()
	payload, _ := json.Marshal(claims)
	switch alg {
	case "none":
		hdr, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
		return base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	case "HS256":
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := sig.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := obj.CompactSerialize()
		return s
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := obj.CompactSerialize()
	return s
}

func unverifiedClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFederationExchange trades real Hydra tokens for deploy tokens, and
// refuses every token a policy must not admit: each refusal is ErrDenied,
// counted by the limiter like a wrong secret, its reason in the log
// without the token.
func TestFederationExchange(t *testing.T) {
	h := testenv.SharedHydra(t)
	other := testenv.StartHydra(t) // allowed, but trusted by no policy
	e := newFedEnv(t, h, h.Issuer, other.Issuer)
	ctx := t.Context()
	const aud = "deploytokens"

	ci := e.token(t, "ci-bot", "")
	e.trust(t, ci, h.Issuer, aud, map[string]string{"sub": "fed-tanuki-ci", "client_id": "fed-tanuki-*"})
	revoked := e.token(t, "revoked-bot", "")
	e.trust(t, revoked, h.Issuer, aud, map[string]string{"sub": "fed-tanuki-ci"})
	if err := e.svc.RevokeDeployToken(ctx, e.admin, "tanuki/app", revoked.ID); err != nil {
		t.Fatal(err)
	}
	// A token that expires in an hour, its policy made while it lived.
	expiring := e.token(t, "expiring-bot", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	e.trust(t, expiring, h.Issuer, aud, map[string]string{"sub": "fed-tanuki-ci-long"})

	good := h.CreateClient(t, "fed-tanuki-ci", aud, 0)
	short := h.CreateClient(t, "fed-tanuki-ci-short", aud, time.Minute)
	// Outlives the maximum age (2h) and the expiring token.
	long := h.CreateClient(t, "fed-tanuki-ci-long", aud, 3*time.Hour)
	e.trust(t, ci, h.Issuer, aud, map[string]string{"sub": "fed-tanuki-ci-long"})
	e.trust(t, ci, h.Issuer, aud, map[string]string{"sub": "fed-tanuki-ci-short"})
	otherAud := h.CreateClient(t, "fed-tanuki-ci-aud", "elsewhere", 0)
	e.trust(t, ci, h.Issuer, "deploytokens-other", map[string]string{"sub": "fed-tanuki-ci-aud"})
	stranger := h.CreateClient(t, "fed-someone-else", aud, 0)
	otherIss := other.CreateClient(t, "fed-tanuki-ci", aud, 0)

	goodTok := good.Token(t, aud)
	claims := unverifiedClaims(t, goodTok)
	exp := time.Unix(int64(claims["exp"].(float64)), 0)

	t.Run("accepted", func(t *testing.T) {
		for i := range 3 { // a replay within its lifetime is accepted too
			p, err := e.authn.checkFrom(ctx, "10.0.0.1", "ci-bot", goodTok)
			if err != nil {
				t.Fatalf("exchange %d: %v\nlog:\n%s", i, err, e.log())
			}
			if p.Kind != DeployTokenKind || p.Token.ID != ci.ID || p.Project.PathWithNamespace != "tanuki/app" {
				t.Fatalf("principal = %+v; want deploy token %d of tanuki/app", p, ci.ID)
			}
			if !p.Expiry().Equal(exp) {
				t.Errorf("principal expiry = %v; want the OIDC token's %v", p.Expiry(), exp)
			}
		}
		if l := e.log(); !strings.Contains(l, "action=oidc_exchange") || !strings.Contains(l, "sub=fed-tanuki-ci") {
			t.Errorf("no audit line for the exchange:\n%s", l)
		}
	})

	forged := func(alg, kid string) string {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		return forge(t, alg, kid, c)
	}
	hour := time.Hour
	tests := []struct {
		name     string
		username string
		token    func() string
		at       *time.Duration // the clock, from now
		reason   string
	}{
		{"another audience", "ci-bot", func() string { return otherAud.Token(t, "elsewhere") }, nil, "no federated identity"},
		{"another issuer, allowed but not trusted", "ci-bot", func() string { return otherIss.Token(t, aud) }, nil, "no federated identity"},
		{"an issuer not allowed", "ci-bot", func() string {
			c := map[string]any{}
			for k, v := range claims {
				c[k] = v
			}
			c["iss"] = "https://issuer.invalid/"
			return forge(t, "RS256", "k1", c)
		}, nil, "the issuer is not allowed"},
		{"expired", "ci-bot", func() string { return short.Token(t, aud) }, ptr(2 * time.Minute), "expired"},
		// Hydra stamps nbf = iat, so go-oidc's nbf check (5 min leeway)
		// refuses it before ours of iat.
		{"issued in the future", "ci-bot", func() string { return good.Token(t, aud) }, ptr(-10 * time.Minute), "nbf"},
		{"older than the maximum age", "ci-bot", func() string { return long.Token(t, aud) }, ptr(2*hour + time.Minute), "maximum age"},
		{"signed by a key not in the issuer's JWKS", "ci-bot", func() string { return forged("RS256", "not-hydras") }, nil, "signature"},
		{"claim does not match", "ci-bot", func() string { return stranger.Token(t, aud) }, nil, "no federated identity"},
		{"alg none", "ci-bot", func() string { return forged("none", "") }, nil, "not a public-key algorithm"},
		{"alg HS256", "ci-bot", func() string { return forged("HS256", "") }, nil, "not a public-key algorithm"},
		{"policy on a revoked deploy token", "revoked-bot", func() string { return good.Token(t, aud) }, nil, "deploy token is revoked"},
		{"policy on an expired deploy token", "expiring-bot", func() string { return long.Token(t, aud) }, ptr(hour + time.Minute), "deploy token is expired"},
		{"a username with no policy", "nobody", func() string { return good.Token(t, aud) }, nil, "no deploy token with this username"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token()
			if tt.at != nil {
				e.clock.set(time.Now().Add(*tt.at))
				defer e.clock.set(time.Time{})
			}
			addr := fmt.Sprint("10.1.0.", i+1)
			before := e.log()
			_, err := e.authn.checkFrom(ctx, addr, tt.username, tok)
			if !errors.Is(err, ErrDenied) && tokens.KindOf(err) != tokens.KindLimited {
				t.Fatalf("exchange: %v; want a refusal", err)
			}
			// Counted: with a limit of one failure, the address is banned.
			if err := e.authn.Limiter.Check(ctx, addr); tokens.KindOf(err) != tokens.KindLimited {
				t.Errorf("after the refusal, the limiter answers %v; want a ban", err)
			}
			logged := strings.TrimPrefix(e.log(), before)
			if !strings.Contains(logged, tt.reason) {
				t.Errorf("log does not give the reason %q:\n%s", tt.reason, logged)
			}
			if strings.Contains(e.log(), strings.Split(tok, ".")[1]) {
				t.Error("the log holds the token")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestFederationKeyRotation: after the issuer rotates its key, the next
// token verifies after one fetch of the key set, and neither good tokens
// nor tokens naming unknown keys fetch it per request.
func TestFederationKeyRotation(t *testing.T) {
	h := testenv.StartHydra(t) // its own: the rotation would disturb others
	e := newFedEnv(t, h)
	ctx := t.Context()
	e.authn.Limiter.Max = 1000
	const aud = "deploytokens"
	dt := e.token(t, "ci-bot", "")
	e.trust(t, dt, h.Issuer, aud, map[string]string{"sub": "rot-ci"})
	c := h.CreateClient(t, "rot-ci", aud, 0)
	const jwks = "/.well-known/jwks.json"
	start := time.Now()
	e.clock.set(start)

	exchange := func(tok string) error {
		_, err := e.authn.checkFrom(ctx, "10.2.0.1", "ci-bot", tok)
		return err
	}
	before := c.Token(t, aud)
	for range 5 {
		if err := exchange(before); err != nil {
			t.Fatalf("before the rotation: %v\n%s", err, e.log())
		}
	}
	if n := e.rt.count(jwks); n != 1 {
		t.Fatalf("key set fetched %d times for 5 exchanges; want 1", n)
	}
	if n := e.rt.count("/.well-known/openid-configuration"); n != 1 {
		t.Errorf("discovery fetched %d times; want 1", n)
	}
	// Tokens naming keys the issuer never had: at most one fetch a minute.
	e.clock.set(start.Add(2 * time.Minute))
	claims := unverifiedClaims(t, before)
	for i := range 5 {
		if err := exchange(forge(t, "RS256", "made-up-"+string(rune('a'+i)), claims)); !errors.Is(err, ErrDenied) {
			t.Fatalf("forged token: %v; want ErrDenied", err)
		}
	}
	if n := e.rt.count(jwks); n != 2 {
		t.Fatalf("key set fetched %d times after 5 tokens with unknown kids; want 2 (one refresh)", n)
	}

	h.RotateKey(t)
	after := c.Token(t, aud)
	e.clock.set(start.Add(4 * time.Minute))
	for i := range 5 {
		if err := exchange(after); err != nil {
			t.Fatalf("after the rotation, exchange %d: %v\n%s", i, err, e.log())
		}
	}
	if n := e.rt.count(jwks); n != 3 {
		t.Errorf("key set fetched %d times in all; want 3 (one refresh for the rotation)", n)
	}
	if err := exchange(before); err != nil {
		t.Errorf("a token of the old key, still in the set: %v", err)
	}

	// Concurrent tokens with unknown kids wait for one fetch, and tokens
	// of known keys verify meanwhile.
	e.clock.set(start.Add(6 * time.Minute))
	forgedToks := make([]string, 10)
	for i := range forgedToks {
		forgedToks[i] = forge(t, "RS256", fmt.Sprint("concurrent-", i), claims)
	}
	var wg sync.WaitGroup
	for i := range forgedToks {
		wg.Go(func() {
			if err := exchange(forgedToks[i]); !errors.Is(err, ErrDenied) {
				t.Errorf("forged token: %v; want ErrDenied", err)
			}
			if err := exchange(after); err != nil {
				t.Errorf("a good token beside forged ones: %v", err)
			}
		})
	}
	wg.Wait()
	if n := e.rt.count(jwks); n != 4 {
		t.Errorf("key set fetched %d times in all; want 4 (one for 10 concurrent unknown kids)", n)
	}
}

// FuzzUnverifiedIssuer: what picks the issuer and the path of a Basic
// password never panics, and only a compact JWS with an iss gets one.
func FuzzUnverifiedIssuer(f *testing.F) {
	for _, s := range []string{"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2EifQ.c2ln", "dtd_abc", "eyJ..", "a.b.c", "eyJ.eyJpc3MiOjF9.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		iss, err := unverifiedIssuer(s)
		if err == nil && (iss == "" || strings.Count(s, ".") != 2) {
			t.Fatalf("unverifiedIssuer(%q) = %q without an error", s, iss)
		}
		if LooksLikeJWT(s) && (strings.HasPrefix(s, "dtd_") || len(s) > maxJWTLen) {
			t.Fatalf("LooksLikeJWT(%.40q) is true", s)
		}
	})
}

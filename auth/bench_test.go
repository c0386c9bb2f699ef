package auth

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/jwks"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// The benchmarks of this file measure the pieces of a registry token
// request (make bench runs them with -benchmem; compare runs with
// benchstat) and the whole handler over each real store.

var benchAlgs = []string{jwks.ES256, jwks.RS256, jwks.EdDSA}

func benchKeys(b *testing.B) *tokens.Keys {
	b.Helper()
	k, err := tokens.NewKeys([]byte(strings.Repeat("bench server secret ", 3)))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func benchSigner(b *testing.B, alg string) *jwks.Manager {
	b.Helper()
	pem, err := jwks.GenerateKeyPEM(alg, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		b.Fatal(err)
	}
	m, err := jwks.New(b.Context(), jwks.Config{KeyFile: path})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// benchPrincipal is a deploy token of project group/app that may pull.
func benchPrincipal() *Principal {
	proj := &tokens.Project{ID: 7, Path: "app", PathWithNamespace: "group/app", Visibility: tokens.Private}
	return &Principal{Kind: DeployTokenKind, Project: proj, Digest: make([]byte, 32), Token: &tokens.DeployToken{
		ID: 42, ProjectID: proj.ID, Name: "deployer", Username: "gitlab+deploy-token-42",
		Scopes: []string{tokens.ScopeReadRepository, tokens.ScopeReadRegistry},
	}}
}

func BenchmarkParseScopes(b *testing.B) {
	tests := []struct {
		name   string
		values []string
	}{
		{"pull", []string{"repository:group/app:pull"}},
		{"nested push,pull", []string{"repository:group/sub/app/image:push,pull"}},
		{"three scopes", []string{"repository:group/app:pull repository:group/app/cache:pull,push", "registry:catalog:*"}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(ParseScopes(tt.values)) == 0 {
					b.Fatal("no scope parsed")
				}
			}
		})
	}
}

func BenchmarkDigest(b *testing.B) {
	keys := benchKeys(b)
	secret, err := tokens.Generate(tokens.DeployTokenSecret)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		keys.Digest(secret.Reveal())
	}
}

func BenchmarkGrant(b *testing.B) {
	s := &TokenService{}
	p := benchPrincipal()
	tests := []struct {
		name  string
		scope string
	}{
		{"own project", "repository:group/app:pull"},
		{"own project, push refused", "repository:group/app:push,pull"},
	}
	for _, tt := range tests {
		scopes := ParseScopes([]string{tt.scope})
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				access, err := s.grant(b.Context(), p, scopes)
				if err != nil || len(access) != 1 {
					b.Fatalf("grant = %v, %v", access, err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	p := benchPrincipal()
	access := []Scope{{Type: "repository", Name: "group/app", Actions: []string{ActionPull}}}
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			m := benchSigner(b, alg)
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now()
				claims := Claims{Access: access}
				claims.Subject, claims.ExpiresAt = p.Name(), jwt.NewNumericDate(now.Add(5*time.Minute))
				if _, err := m.Sign(claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIssue is everything after authentication: grant, claims,
// signature and answer.
func BenchmarkIssue(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			s := &TokenService{Service: &tokens.Service{}, Signer: benchSigner(b, alg), Name: "container_registry",
				Issuer: "deploytokens", Lifetime: 5 * time.Minute}
			p := benchPrincipal()
			scopes := []string{"repository:group/app:pull"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.issue(b.Context(), p, scopes, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAnswerJSON(b *testing.B) {
	s := &TokenService{Service: &tokens.Service{}, Signer: benchSigner(b, jwks.ES256), Name: "container_registry",
		Issuer: "deploytokens", Lifetime: 5 * time.Minute}
	ans, err := s.issue(b.Context(), benchPrincipal(), []string{"repository:group/app:pull"}, false)
	if err != nil {
		b.Fatal(err)
	}
	ans.Token = ans.AccessToken
	b.ReportAllocs()
	for b.Loop() {
		// What echo's c.JSON does with the answer.
		if err := json.NewEncoder(io.Discard).Encode(ans); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCred is a stored deploy token's credentials and its project.
type benchCred struct{ user, secret, project string }

// loadBenchTokens stores n deploy tokens, one project each, and answers
// their credentials. It goes through the Store methods the server uses
// (and the conformance suite covers), one record at a time.
func loadBenchTokens(b *testing.B, s tokens.Store, keys *tokens.Keys, n int) []benchCred {
	b.Helper()
	ctx := b.Context()
	owner := tokens.User{Username: "owner", CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, &owner); err != nil {
		b.Fatal(err)
	}
	creds := make([]benchCred, n)
	for i := range creds {
		p := tokens.Project{Path: fmt.Sprint("app", i), PathWithNamespace: fmt.Sprint("group/app", i), Visibility: tokens.Private, CreatedAt: time.Now()}
		if err := s.CreateProject(ctx, &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner}); err != nil {
			b.Fatal(err)
		}
		secret, err := tokens.Generate(tokens.DeployTokenSecret)
		if err != nil {
			b.Fatal(err)
		}
		t := tokens.DeployToken{ProjectID: p.ID, Name: "bench", CreatedAt: time.Now(),
			Scopes: []string{tokens.ScopeReadRegistry}, Digest: keys.Digest(secret.Reveal())}
		if err := s.CreateDeployToken(ctx, &t); err != nil {
			b.Fatal(err)
		}
		creds[i] = benchCred{t.Username, secret.Reveal(), p.PathWithNamespace}
	}
	return creds
}

// discardWriter is a ResponseWriter that keeps only the status, so the
// handler's own allocations are what the benchmark counts.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkTokenGET runs GET /jwt/auth through the echo router over each
// real store, rotating over many deploy tokens as pulls do. It measures the
// handler (ban check, digest, lookup, grant, signature, answer), not the
// HTTP server or the middleware.
func BenchmarkTokenGET(b *testing.B) {
	const tokensN = 1000
	stores := []struct {
		name string
		open func(b *testing.B) tokens.Store
	}{
		{"redis", func(b *testing.B) tokens.Store {
			c := redis.NewClient(&redis.Options{Addr: testenv.StartRedisProcess(b).Addr()})
			return redisstore.NewFromClient(c, redisstore.Options{})
		}},
		{"embedded", func(b *testing.B) tokens.Store {
			s, err := boltstore.Open(filepath.Join(b.TempDir(), "deploytokens.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			store := st.open(b)
			b.Cleanup(func() { _ = store.Close() })
			keys := benchKeys(b)
			creds := loadBenchTokens(b, store, keys, tokensN)
			authn := &Authenticator{Store: store, Keys: keys,
				Limiter: &Limiter{KV: store, Max: 30, Window: time.Minute, Ban: time.Hour}}
			ts := &TokenService{Auth: authn, Service: &tokens.Service{Store: store, Keys: keys}, Signer: benchSigner(b, jwks.ES256),
				Name: "container_registry", Issuer: "deploytokens", Lifetime: 5 * time.Minute,
				ClientAddr: func(*http.Request) string { return "127.0.0.1" }}
			e := echo.New()
			ts.Register(e)
			reqs := make([]*http.Request, len(creds))
			for i, c := range creds {
				q := url.Values{"service": {"container_registry"}, "account": {c.user}, "scope": {"repository:" + c.project + ":pull"}}
				r, err := http.NewRequestWithContext(b.Context(), http.MethodGet, "/jwt/auth?"+q.Encode(), nil)
				if err != nil {
					b.Fatal(err)
				}
				r.SetBasicAuth(c.user, c.secret)
				r.RemoteAddr = "127.0.0.1:40000"
				reqs[i] = r
			}
			w := &discardWriter{}
			serve := func(r *http.Request) {
				w.h, w.status = http.Header{}, 0
				e.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
			// First uses write the last-use time; leave them behind.
			for _, r := range reqs {
				serve(r)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				serve(reqs[i%len(reqs)])
			}
		})
	}
}

package auth

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/jwks"
	"github.com/deploytokens/deploytokens/tokens"
)

// testSigner answers a signer with a key generated for the test.
func testSigner(t testing.TB) *jwks.Manager {
	t.Helper()
	pem, err := jwks.GenerateKeyPEM(jwks.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := jwks.New(t.Context(), jwks.Config{KeyFile: path})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tokenRouter answers the token endpoint over env's store behind the
// registry surface's error writer, as the server mounts it.
func (env *hotpathEnv) tokenRouter(t testing.TB) *echo.Echo {
	t.Helper()
	ts := &TokenService{Auth: env.authenticator(env.store), Service: &tokens.Service{Store: env.store, Keys: env.keys},
		Signer: testSigner(t), Name: "container_registry", Issuer: "deploytokens", Lifetime: 5 * time.Minute,
		ClientAddr: func(*http.Request) string { return "192.0.2.1" }}
	e := echo.New()
	ts.Register(e, httperr.Surface(WriteRegistry, slog.New(slog.DiscardHandler)))
	return e
}

// hostileScopes answers n scopes of distinct five-segment names no project
// owns, each of which the old code looked up three times.
func hostileScopes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("repository:a%d/b/c/d/e:pull", i)
	}
	return out
}

// TestRepositoryBudget: a token request names at most a capped number of
// distinct repositories (fewer without credentials), refused 400 naming
// the cap past it; within it, the request costs the same round trips to
// Redis whatever number of repositories it names (issue 20, finding 4).
func TestRepositoryBudget(t *testing.T) {
	env := newHotpathEnv(t)
	e := env.tokenRouter(t)
	valid := env.tokens["valid"]
	pat := env.tokens["pat"]
	serve := func(t *testing.T, user, secret string, scopes []string) *httptest.ResponseRecorder {
		t.Helper()
		q := url.Values{"service": {"container_registry"}, "scope": scopes}
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/jwt/auth?"+q.Encode(), nil)
		if user != "" {
			r.SetBasicAuth(user, secret)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		return w
	}
	// The first use of the deploy token writes its last use in the
	// background; later ones within the interval write nothing.
	if w := serve(t, valid.user, valid.secret, []string{"repository:group/app:pull"}); w.Code != http.StatusOK {
		t.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	env.waitTouched(t)
	if w := serve(t, pat.user, pat.secret, []string{"repository:group/app:pull"}); w.Code != http.StatusOK {
		t.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	eventually(t, "the first use of the personal access token was recorded", func() bool {
		tok, _, err := env.store.PATByDigest(t.Context(), env.keys.Digest(pat.secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok.LastUsedAt != nil
	})

	refusals := []struct {
		name, user, secret string
		scopes             []string
		want               string
	}{
		{"64 scopes without credentials", "", "", hostileScopes(64), "may name at most 4"},
		{"5 scopes without credentials", "", "", hostileScopes(5), "may name at most 4"},
		{"17 scopes with a deploy token", valid.user, valid.secret, hostileScopes(17), "may name at most 16"},
		{"64 scopes with a personal access token", pat.user, pat.secret, hostileScopes(64), "may name at most 16"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			env.hook.Reset()
			w := serve(t, tt.user, tt.secret, tt.scopes)
			body, _ := io.ReadAll(w.Body)
			if w.Code != http.StatusBadRequest || !strings.Contains(string(body), tt.want) || !strings.Contains(string(body), `"errors"`) {
				t.Errorf("answer %d %s, want 400 in the registry's shape saying %q", w.Code, body, tt.want)
			}
			t.Logf("refused after %d round trips", env.hook.N())
		})
	}

	// Within the cap: the same round trips for one repository as for the
	// cap's worth. The last-use writes were made above, so none is
	// counted here.
	within := []struct {
		name, user, secret string
		cap                int
	}{
		{"without credentials", "", "", 4},
		{"deploy token", valid.user, valid.secret, 16},
		{"personal access token", pat.user, pat.secret, 16},
	}
	for _, tt := range within {
		t.Run("at the cap "+tt.name, func(t *testing.T) {
			count := func(scopes []string) int64 {
				env.hook.Reset()
				if w := serve(t, tt.user, tt.secret, scopes); w.Code != http.StatusOK {
					t.Fatalf("%d scopes: %d %s", len(scopes), w.Code, w.Body)
				}
				return env.hook.N()
			}
			count(hostileScopes(1)) // the first run of a script loads it
			one, full := count(hostileScopes(1)), count(hostileScopes(tt.cap))
			if one != full {
				t.Errorf("round trips: %d for 1 repository, %d for %d", one, full, tt.cap)
			}
			t.Logf("%d round trips for 1 or %d repositories", full, tt.cap)
		})
	}
}

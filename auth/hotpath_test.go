package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// plainStore is the store under another name: a Limiter over it keeps its
// bans apart from an Authenticator's store as far as the Authenticator
// can tell, so it takes the ban check and the lookup one after the other.
type plainStore struct{ tokens.Store }

type hotpathEnv struct {
	srv    *testenv.RedisServer
	store  *redisstore.Store
	hook   *testenv.RoundTrips
	keys   *tokens.Keys
	limit  int64
	tokens map[string]struct{ user, secret string }
	// alice is the user who owns the project and the personal access
	// tokens.
	alice int64
}

// newHotpathEnv stores deploy tokens of every kind a request can bring:
// valid, revoked, expired, and a personal access token.
func newHotpathEnv(t *testing.T) *hotpathEnv {
	t.Helper()
	srv := testenv.StartRedisProcess(t)
	// No retries: the unavailable case should fail at once.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1})
	env := &hotpathEnv{srv: srv, store: redisstore.NewFromClient(c, redisstore.Options{}), hook: &testenv.RoundTrips{}, limit: 3,
		tokens: map[string]struct{ user, secret string }{}}
	c.AddHook(env.hook)
	t.Cleanup(func() { _ = env.store.Close() })
	keys, err := tokens.NewKeys([]byte(strings.Repeat("hot path test secret ", 2)))
	if err != nil {
		t.Fatal(err)
	}
	env.keys = keys
	ctx := t.Context()
	u := tokens.User{Username: "alice"}
	if err := env.store.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{Path: "app", PathWithNamespace: "group/app", Visibility: tokens.Private}
	if err := env.store.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name    string
		revoked bool
		expires *time.Time
	}{{"valid", false, nil}, {"revoked", true, nil}, {"expired", false, &past}} {
		secret, err := tokens.Generate(tokens.DeployTokenSecret)
		if err != nil {
			t.Fatal(err)
		}
		d := tokens.DeployToken{ProjectID: p.ID, Name: tc.name, Scopes: []string{tokens.ScopeReadRegistry},
			Revoked: tc.revoked, ExpiresAt: tc.expires, Digest: keys.Digest(secret.Reveal())}
		if err := env.store.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
		env.tokens[tc.name] = struct{ user, secret string }{d.Username, secret.Reveal()}
	}
	env.alice = u.ID
	_, pat := env.newPAT(t, nil)
	env.tokens["pat"] = struct{ user, secret string }{u.Username, pat}
	return env
}

// newPAT stores a personal access token of alice with the api scope,
// expiring at expires (never when nil), and answers it and its secret.
func (env *hotpathEnv) newPAT(t *testing.T, expires *time.Time) (*tokens.PersonalAccessToken, string) {
	t.Helper()
	secret, err := tokens.Generate(tokens.PATSecret)
	if err != nil {
		t.Fatal(err)
	}
	pat := &tokens.PersonalAccessToken{UserID: env.alice, Scopes: []string{tokens.ScopeAPI},
		ExpiresAt: expires, Digest: env.keys.Digest(secret.Reveal())}
	if err := env.store.CreatePAT(t.Context(), pat); err != nil {
		t.Fatal(err)
	}
	return pat, secret.Reveal()
}

// authenticator answers an Authenticator over the store whose Limiter
// keeps its bans in kv.
func (env *hotpathEnv) authenticator(kv tokens.KV) *Authenticator {
	return &Authenticator{Store: env.store, Keys: env.keys,
		Limiter: &Limiter{KV: kv, Max: env.limit, Window: time.Minute, Ban: time.Hour, Logger: slog.New(slog.DiscardHandler)}}
}

// waitTouched waits until the valid token's last use is stored and a's
// writes of last uses are done, so the write that its first use caused is
// not counted as a later request's.
func (env *hotpathEnv) waitTouched(t *testing.T, a *Authenticator) {
	t.Helper()
	digest := env.keys.Digest(env.tokens["valid"].secret)
	eventually(t, "the first use of the token was recorded", func() bool {
		d, _, err := env.store.DeployTokenByDigest(t.Context(), digest)
		if err != nil {
			t.Fatal(err)
		}
		return d.LastUsedAt != nil
	})
	eventually(t, "no last use is being written", func() bool {
		a.touches.mu.Lock()
		defer a.touches.mu.Unlock()
		return !a.touches.writing && len(a.touches.pending) == 0
	})
}

// eventually fails the test unless cond holds within 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
	}
}

func basicRequest(t *testing.T, header string) *http.Request {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "/jwt/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return r
}

// outcome is what an authentication answered, in comparable form.
type outcome struct {
	status int
	kind   Kind
	name   string
}

func (o outcome) String() string {
	return fmt.Sprintf("status %d, kind %d, name %q", o.status, o.kind, o.name)
}

func outcomeOf(p Principal, err error) outcome {
	if err != nil {
		return outcome{status: httperr.Status(err)}
	}
	return outcome{status: http.StatusOK, kind: p.Kind, name: p.Name()}
}

// TestCheckFromFusedMatchesPlain authenticates the same requests through the
// one-round-trip path and through the ban check and lookup one after the
// other, and checks that the answers, the failure counts and the bans are
// the same.
func TestCheckFromFusedMatchesPlain(t *testing.T) {
	env := newHotpathEnv(t)
	ctx := t.Context()
	tok := func(name string) struct{ user, secret string } { return env.tokens[name] }
	header := func(user, secret string) string { return basic(user + ":" + secret) }
	tests := []struct {
		name   string
		header string
		banned bool
		// repeat sends the request this often, to cross the ban limit.
		repeat int
		want   outcome
	}{
		{"valid deploy token", header(tok("valid").user, tok("valid").secret), false, 1, outcome{200, DeployTokenKind, tok("valid").user}},
		{"valid deploy token, banned address", header(tok("valid").user, tok("valid").secret), true, 1, outcome{status: 429}},
		{"wrong username", header("someone", tok("valid").secret), false, 1, outcome{status: 401}},
		{"unknown deploy token", header(tok("valid").user, "dtd_"+strings.Repeat("a", 32)), false, 1, outcome{status: 401}},
		{"revoked", header(tok("revoked").user, tok("revoked").secret), false, 1, outcome{status: 401}},
		{"expired", header(tok("expired").user, tok("expired").secret), false, 1, outcome{status: 401}},
		{"failures ban the address", header(tok("valid").user, "dtd_"+strings.Repeat("b", 32)), false, 5, outcome{status: 429}},
		{"personal access token", header(tok("pat").user, tok("pat").secret), false, 1, outcome{200, UserKind, "alice"}},
		{"no credentials", "", false, 1, outcome{200, Anonymous, ""}},
		{"no credentials, banned address", "", true, 1, outcome{status: 429}},
		// Five failures ban (above); five malformed headers are five 400s.
		{"malformed Basic is not counted", "Basic !!!", false, 5, outcome{status: 400}},
		{"invalid UTF-8 username is not counted", basic("al\xffice:" + tok("valid").secret), false, 5, outcome{status: 400}},
		{"empty secret", header(tok("valid").user, ""), false, 1, outcome{status: 401}},
		// containerd's retry after a refused refresh: asked to log in
		// again, never counted (five would ban).
		{"empty username is not counted", header("", tok("valid").secret), false, 5, outcome{status: 401}},
		{"empty username and secret", header("", ""), false, 5, outcome{status: 401}},
		{"empty username, banned address", header("", ""), true, 1, outcome{status: 429}},
		{"overlong deploy token", header(tok("valid").user, "dtd_"+strings.Repeat("c", 2000)), false, 1, outcome{status: 401}},
	}
	modes := []struct {
		name  string
		authn *Authenticator
	}{
		{"one round trip", env.authenticator(env.store)},
		{"two round trips", env.authenticator(plainStore{env.store})},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [2]outcome
			var fails [2]string
			for m, mode := range modes {
				addr := fmt.Sprintf("192.0.2.%d", 2*i+m)
				if tt.banned {
					until := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
					if err := env.store.Create(ctx, tokens.BanKey(addr), []byte(until), time.Hour); err != nil {
						t.Fatal(err)
					}
				}
				for range tt.repeat {
					got[m] = outcomeOf(mode.authn.authenticateBasic(ctx, basicRequest(t, tt.header), addr))
				}
				v, err := env.store.Get(ctx, "fail:"+addr)
				if err != nil && !errors.Is(err, tokens.ErrNotFound) {
					t.Fatal(err)
				}
				fails[m] = string(v)
			}
			if got[0] != tt.want {
				t.Errorf("one round trip: %v, want %v", got[0], tt.want)
			}
			if got[1] != tt.want {
				t.Errorf("two round trips: %v, want %v", got[1], tt.want)
			}
			if fails[0] != fails[1] {
				t.Errorf("failures counted: %q with one round trip, %q with two", fails[0], fails[1])
			}
		})
	}
}

// TestTwoAuthorizationHeaders: which of two headers counts would be a
// guess, so neither does; the request is a client's (or a proxy's)
// mistake, refused with 400 and not counted against the address.
func TestTwoAuthorizationHeaders(t *testing.T) {
	env := newHotpathEnv(t)
	valid := env.tokens["valid"]
	authn := env.authenticator(env.store)
	for i := range 6 {
		r := basicRequest(t, basic(valid.user+":"+valid.secret))
		r.Header.Add("Authorization", basic(valid.user+":"+valid.secret))
		if got := outcomeOf(authn.authenticateBasic(t.Context(), r, "192.0.2.200")); got != (outcome{status: 400}) {
			t.Fatalf("request %d: %v, want 400", i+1, got)
		}
	}
	r := basicRequest(t, basic(valid.user+":"+valid.secret))
	if got := outcomeOf(authn.authenticateBasic(t.Context(), r, "192.0.2.200")); got.status != 200 {
		t.Errorf("one header after them: %v, want 200", got)
	}
}

// TestCheckFromOneRoundTrip pins a deploy token's authentication, ban
// check included, to one command.
func TestCheckFromOneRoundTrip(t *testing.T) {
	env := newHotpathEnv(t)
	valid := env.tokens["valid"]
	r := basicRequest(t, basic(valid.user+":"+valid.secret))
	tests := []struct {
		name  string
		authn *Authenticator
		want  int64
	}{
		{"redis store", env.authenticator(env.store), 1},
		{"limiter on another store", env.authenticator(plainStore{env.store}), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The first call may load the script and writes the last use.
			if _, err := tt.authn.authenticateBasic(t.Context(), r, "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
			env.waitTouched(t, tt.authn)
			env.hook.Reset()
			if _, err := tt.authn.authenticateBasic(t.Context(), r, "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
			if n := env.hook.N(); n != tt.want {
				t.Errorf("sent %d commands, want %d", n, tt.want)
			}
		})
	}
}

// TestCheckFromUnavailable: with Redis down, both paths answer 503, never a
// 401 that blames the credentials.
func TestCheckFromUnavailable(t *testing.T) {
	env := newHotpathEnv(t)
	valid := env.tokens["valid"]
	r := basicRequest(t, basic(valid.user+":"+valid.secret))
	env.srv.Stop()
	for _, kv := range []tokens.KV{env.store, plainStore{env.store}} {
		_, err := env.authenticator(kv).authenticateBasic(t.Context(), r, "192.0.2.1")
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("limiter on %T: error %v, want ErrUnavailable", kv, err)
		}
	}
}

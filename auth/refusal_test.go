package auth

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestRefusalsDoEqualWork: every refusal of a Basic credential does the
// same work before it is answered, counted, not timed (issue 20, finding
// 6): the same digests, and the same round trips to Redis (the fused read
// of the secret with the ban, then the strike). Otherwise a refusal's
// time tells a guesser whether a secret exists, whose it is, or whether
// it was revoked.
func TestRefusalsDoEqualWork(t *testing.T) {
	env := newHotpathEnv(t)
	ctx := t.Context()
	authn := env.authenticator(env.store)
	tok := func(name string) struct{ user, secret string } { return env.tokens[name] }
	past := time.Now().Add(-time.Hour)
	revokedPAT, revokedSecret := env.newPAT(t, nil)
	if err := env.store.RevokePAT(ctx, revokedPAT.ID); err != nil {
		t.Fatal(err)
	}
	_, expiredSecret := env.newPAT(t, &past)
	bob := tokens.User{Username: "bob"}
	if err := env.store.CreateUser(ctx, &bob); err != nil {
		t.Fatal(err)
	}
	blockedSecret, err := tokens.Generate(tokens.PATSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.CreatePAT(ctx, &tokens.PersonalAccessToken{UserID: bob.ID, Scopes: []string{tokens.ScopeAPI},
		Digest: env.keys.Digest(blockedSecret.Reveal())}); err != nil {
		t.Fatal(err)
	}
	if err := env.store.SetUserBlocked(ctx, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	unknownPAT, err := tokens.Generate(tokens.PATSecret)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, user, secret string
		banned             bool
		want               int
	}{
		{"unknown deploy token secret", tok("valid").user, "dtd_" + strings.Repeat("a", 32), false, 401},
		{"deploy token, wrong username", "someone", tok("valid").secret, false, 401},
		{"revoked deploy token", tok("revoked").user, tok("revoked").secret, false, 401},
		{"expired deploy token", tok("expired").user, tok("expired").secret, false, 401},
		{"unknown personal access token", "alice", unknownPAT.Reveal(), false, 401},
		{"personal access token, wrong username", "someone", tok("pat").secret, false, 401},
		{"revoked personal access token", "alice", revokedSecret, false, 401},
		{"expired personal access token", "alice", expiredSecret, false, 401},
		{"blocked user", "bob", blockedSecret.Reveal(), false, 401},
		{"banned address, valid deploy token", tok("valid").user, tok("valid").secret, true, 429},
		{"banned address, valid personal access token", "alice", tok("pat").secret, true, 429},
		{"banned address, unknown secret", "alice", unknownPAT.Reveal(), true, 429},
	}
	type work struct{ roundTrips, digests int64 }
	measure := func(t *testing.T, i, pass int, user, secret string, banned bool) (int, work) {
		addr := fmt.Sprintf("198.51.100.%d", 2*i+pass)
		if banned {
			until := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
			if err := env.store.Create(ctx, tokens.BanKey(addr), []byte(until), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		r := basicRequest(t, basic(user+":"+secret))
		env.hook.Reset()
		digests := env.keys.Digests()
		got := outcomeOf(authn.authenticateBasic(ctx, r, addr))
		return got.status, work{env.hook.N(), int64(env.keys.Digests() - digests)}
	}
	var first work
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The first run of a script on a server loads it: measure
			// the second, from another address.
			measure(t, i, 0, tt.user, tt.secret, tt.banned)
			status, w := measure(t, i, 1, tt.user, tt.secret, tt.banned)
			if status != tt.want {
				t.Fatalf("status %d, want %d", status, tt.want)
			}
			if i == 0 {
				first = w
				t.Logf("%d round trips, %d digests", w.roundTrips, w.digests)
			} else if w != first {
				t.Errorf("%d round trips and %d digests, want %d and %d as for %s",
					w.roundTrips, w.digests, first.roundTrips, first.digests, tests[0].name)
			}
		})
	}
}

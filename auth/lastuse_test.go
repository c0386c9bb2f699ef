package auth

import (
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestLastUseRoundTrips: recording last uses adds no command to a deploy
// token's authentication, whichever of a rotated token's two secrets it
// brings, and a use of the previous secret is recorded as its own (with
// the address and user agent) once written.
func TestLastUseRoundTrips(t *testing.T) {
	env := newHotpathEnv(t)
	valid := env.tokens["valid"]
	d, _, err := env.store.DeployTokenByDigest(t.Context(), env.keys.Digest(valid.secret))
	if err != nil {
		t.Fatal(err)
	}
	next, err := tokens.Generate(tokens.DeployTokenSecret)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	if _, err := env.store.RotateDeployToken(t.Context(), tokens.DeployTokenRotation{ProjectID: d.ProjectID, ID: d.ID,
		Digest: env.keys.Digest(next.Reveal()), At: time.Now(), PrevUntil: &until}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, secret string }{{"previous secret", valid.secret}, {"current secret", next.Reveal()}} {
		t.Run(tc.name, func(t *testing.T) {
			a := env.authenticator(env.store)
			r := basicRequest(t, basic(valid.user+":"+tc.secret))
			r.Header.Set("User-Agent", "test-client/1")
			for i := range 3 {
				env.hook.Reset()
				if _, err := a.authenticateBasic(t.Context(), r, "192.0.2.7"); err != nil {
					t.Fatal(err)
				}
				// The first use's write runs beside the request;
				// later ones within the minute are coalesced.
				if i == 0 {
					env.waitTouched(t, a)
					continue
				}
				if n := env.hook.N(); n != 1 {
					t.Errorf("use %d sent %d commands, want 1", i+1, n)
				}
			}
		})
	}
	got, err := env.store.DeployToken(t.Context(), d.ProjectID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PrevLastUsedAt == nil || got.PrevLastUsedIP != "192.0.2.7" || got.PrevLastUsedAgent != "test-client/1" ||
		got.LastUsedIP != "192.0.2.7" || got.LastUsedAgent != "test-client/1" {
		t.Errorf("recorded use: %v %q %q, previous secret's %v %q %q", got.LastUsedAt, got.LastUsedIP, got.LastUsedAgent,
			got.PrevLastUsedAt, got.PrevLastUsedIP, got.PrevLastUsedAgent)
	}
}

package auth

import (
	"errors"
	"testing"
)

// TestBlockedUser: a blocked user's personal access token is refused on
// every path that reads one (alone, with its username, by digest as web
// sessions and refresh tokens check it), the deploy tokens of their
// project keep working, and unblocking lets the token in again.
func TestBlockedUser(t *testing.T) {
	env := newHotpathEnv(t)
	ctx := t.Context()
	_, secret := env.newPAT(t, nil)
	deploy := env.tokens["valid"]
	a := env.authenticator(env.store)
	checks := []struct {
		name string
		use  func() error
	}{
		{"alone", func() error { _, err := a.CheckPAT(ctx, secret); return err }},
		{"with its username", func() error { _, err := a.Check(ctx, "alice", secret); return err }},
		{"by digest", func() error { _, err := a.CheckPATDigest(ctx, env.keys.Digest(secret)); return err }},
	}
	for _, tt := range []struct {
		name    string
		blocked bool
		want    error
	}{
		{"active", false, nil},
		{"blocked", true, ErrDenied},
		{"unblocked", false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := env.store.SetUserBlocked(ctx, env.alice, tt.blocked); err != nil {
				t.Fatal(err)
			}
			for _, c := range checks {
				if err := c.use(); !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
					t.Errorf("%s: %v; want %v", c.name, err, tt.want)
				}
			}
			if _, err := a.Check(ctx, deploy.user, deploy.secret); err != nil {
				t.Errorf("deploy token of the user's project: %v", err)
			}
		})
	}
}

package auth

import (
	"errors"
	"testing"
	"time"
)

// TestPATExpiry: a personal access token works until its expiry and not
// at it, on the API (PRIVATE-TOKEN) as in web sessions, whose pages check
// the token's digest again.
func TestPATExpiry(t *testing.T) {
	env := newHotpathEnv(t)
	ctx := t.Context()
	exp := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	_, secret := env.newPAT(t, &exp)
	for _, tt := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"a moment before", exp.Add(-time.Nanosecond), nil},
		{"at the expiry", exp, ErrDenied},
		{"after", exp.Add(time.Hour), ErrDenied},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := env.authenticator(env.store)
			a.Now = func() time.Time { return tt.now }
			if _, err := a.CheckPAT(ctx, secret); !errors.Is(err, tt.want) {
				t.Errorf("CheckPAT = %v; want %v", err, tt.want)
			}
			if _, err := a.CheckPATDigest(ctx, env.keys.Digest(secret)); !errors.Is(err, tt.want) {
				t.Errorf("CheckPATDigest = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	for _, tt := range []struct {
		name                         string
		userMatches, revoked, active bool
		want                         string
	}{
		{"usable", true, false, true, ""},
		{"another username", false, false, true, "the username is not the token's"},
		{"revoked", true, true, false, "revoked"},
		{"expired", true, false, false, "expired"},
		{"revoked and another username", false, true, false, "the username is not the token's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusal(tt.userMatches, tt.revoked, tt.active); got != tt.want {
				t.Errorf("refusal = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestPATLastUse: using a personal access token records its last use,
// whether it came alone (the API's PRIVATE-TOKEN) or with its username
// (Basic, the web's sign-in).
func TestPATLastUse(t *testing.T) {
	env := newHotpathEnv(t)
	ctx := t.Context()
	for _, tt := range []struct {
		name string
		use  func(a *Authenticator, secret string) error
	}{
		{"alone", func(a *Authenticator, secret string) error { _, err := a.CheckPAT(ctx, secret); return err }},
		{"with its username", func(a *Authenticator, secret string) error { _, err := a.Check(ctx, "alice", secret); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pat, secret := env.newPAT(t, nil)
			if err := tt.use(env.authenticator(env.store), secret); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the token's use was recorded", func() bool {
				got, err := env.store.PAT(ctx, pat.ID)
				if err != nil {
					t.Fatal(err)
				}
				return got.LastUsedAt != nil
			})
		})
	}
}

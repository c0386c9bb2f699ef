package storetest

import (
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testPATForAuth checks the fused read of a personal access token and a
// ban answers what PATByDigest and Get answer apart.
func testPATForAuth(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	alice := mustUser(t, s, "alice")
	blocked := mustUser(t, s, "blocked")
	mustPAT(t, s, alice, "pat-valid")
	revoked := mustPAT(t, s, alice, "pat-revoked")
	if err := s.RevokePAT(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	mustPAT(t, s, blocked, "pat-blocked")
	if err := s.SetUserBlocked(ctx, blocked.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, tokens.BanKey("192.0.2.1"), []byte("1700000000"), time.Hour); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, secret, addr string
		found, banned      bool
		ban                string
	}{
		{"found, no ban", "pat-valid", "192.0.2.9", true, false, ""},
		{"found, banned", "pat-valid", "192.0.2.1", true, true, "1700000000"},
		{"found, no address", "pat-valid", "", true, false, ""},
		{"revoked is found", "pat-revoked", "192.0.2.9", true, false, ""},
		{"blocked user's is found", "pat-blocked", "192.0.2.9", true, false, ""},
		{"unknown, banned", "pat-unknown", "192.0.2.1", false, true, "1700000000"},
		{"unknown, no ban", "pat-unknown", "192.0.2.9", false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tokens.PATAuthQuery{Digest: digest(tt.secret), Addr: tt.addr}
			got, err := s.PATForAuth(ctx, q)
			if err != nil {
				t.Fatalf("PATForAuth: %v", err)
			}
			if got.Found != tt.found || got.Banned != tt.banned || string(got.Ban) != tt.ban {
				t.Errorf("found %v, banned %v with %q; want found %v, banned %v with %q",
					got.Found, got.Banned, got.Ban, tt.found, tt.banned, tt.ban)
			}
			// The same answers as the separate call.
			wantT, wantU, err := s.PATByDigest(ctx, q.Digest)
			if !tt.found {
				wantErr(t, "PATByDigest", err, tokens.ErrNotFound)
				wantEqual(t, "token", got.Token, tokens.PersonalAccessToken{})
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantEqual(t, "token", got.Token, wantT)
			wantEqual(t, "user", got.User, wantU)
		})
	}
}

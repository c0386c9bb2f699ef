package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testRotateDeployToken checks rotation with overlap: the token is found
// by both digests in one DeployTokenForAuth while the previous one is
// kept, the record is the same (ID, scopes, expiry, username), a second
// rotation drops the oldest digest at once, no grace drops the replaced
// digest at once, revoking ends the rotation, and deleting the owner
// drops both indexes.
func testRotateDeployToken(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	p := mustProject(t, s, "team/app", owner)
	other := mustProject(t, s, "team/other", owner)
	g := mustGroup(t, s, "grp", tokens.Group{}, owner)
	d := mustDeployToken(t, s, p, "first")
	gd := mustGroupDeployToken(t, s, g, "group-first")
	at := when.Add(time.Hour)
	until := at.Add(24 * time.Hour)

	found := func(t *testing.T, secret string) (tokens.DeployToken, bool) {
		t.Helper()
		a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: digest(secret)})
		if err != nil {
			t.Fatalf("DeployTokenForAuth(%s): %v", secret, err)
		}
		return a.Token, a.Found
	}
	wantFound := func(t *testing.T, want map[string]bool) {
		t.Helper()
		for secret, w := range want {
			if _, ok := found(t, secret); ok != w {
				t.Errorf("found by %q: %v, want %v", secret, ok, w)
			}
		}
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			r    tokens.DeployTokenRotation
			want error
		}{
			{"other project", tokens.DeployTokenRotation{ProjectID: other.ID, ID: d.ID, Digest: digest("x1"), At: at}, tokens.ErrNotFound},
			{"no such token", tokens.DeployTokenRotation{ProjectID: p.ID, ID: d.ID + 1000, Digest: digest("x2"), At: at}, tokens.ErrNotFound},
			{"project token as group's", tokens.DeployTokenRotation{GroupID: g.ID, ID: d.ID, Digest: digest("x3"), At: at}, tokens.ErrNotFound},
			{"group token as project's", tokens.DeployTokenRotation{ProjectID: p.ID, ID: gd.ID, Digest: digest("x4"), At: at}, tokens.ErrNotFound},
			{"digest taken", tokens.DeployTokenRotation{ProjectID: p.ID, ID: d.ID, Digest: digest("group-first"), At: at}, tokens.ErrConflict},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.RotateDeployToken(ctx, tc.r)
				wantErr(t, "RotateDeployToken", err, tc.want)
				got, err := s.DeployToken(ctx, p.ID, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				wantEqual(t, "token after a refused rotation", got, d)
			})
		}
	})

	t.Run("with grace", func(t *testing.T) {
		got, err := s.RotateDeployToken(ctx, tokens.DeployTokenRotation{ProjectID: p.ID, ID: d.ID, Digest: digest("second"), At: at, PrevUntil: &until})
		if err != nil {
			t.Fatalf("RotateDeployToken: %v", err)
		}
		want := d
		want.Digest, want.RotatedAt, want.PrevDigest, want.PrevUntil = digest("second"), &at, digest("first"), &until
		wantEqual(t, "rotated token", got, want)
		stored, err := s.DeployToken(ctx, p.ID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "stored token", stored, want)
		for _, secret := range []string{"first", "second"} {
			tok, ok := found(t, secret)
			if !ok {
				t.Fatalf("not found by %q", secret)
			}
			wantEqual(t, "found by "+secret, tok, want)
		}
	})

	t.Run("again drops the oldest", func(t *testing.T) {
		if _, err := s.RotateDeployToken(ctx, tokens.DeployTokenRotation{ProjectID: p.ID, ID: d.ID, Digest: digest("third"), At: at, PrevUntil: &until}); err != nil {
			t.Fatal(err)
		}
		wantFound(t, map[string]bool{"first": false, "second": true, "third": true})
	})

	t.Run("no grace", func(t *testing.T) {
		got, err := s.RotateDeployToken(ctx, tokens.DeployTokenRotation{ProjectID: p.ID, ID: d.ID, Digest: digest("fourth"), At: at, CISecret: []byte("sealed")})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.PrevDigest) != 0 || got.PrevUntil != nil || string(got.CISecret) != "sealed" {
			t.Errorf("rotated without grace: %+v", got)
		}
		wantFound(t, map[string]bool{"second": false, "third": false, "fourth": true})
	})

	t.Run("group token", func(t *testing.T) {
		got, err := s.RotateDeployToken(ctx, tokens.DeployTokenRotation{GroupID: g.ID, ID: gd.ID, Digest: digest("group-second"), At: at, PrevUntil: &until})
		if err != nil {
			t.Fatal(err)
		}
		if got.GroupID != g.ID || got.ID != gd.ID {
			t.Errorf("rotated group token: %+v", got)
		}
		wantFound(t, map[string]bool{"group-first": true, "group-second": true})
	})

	t.Run("revoked", func(t *testing.T) {
		if _, err := s.RotateDeployToken(ctx, tokens.DeployTokenRotation{ProjectID: p.ID, ID: d.ID, Digest: digest("fifth"), At: at, PrevUntil: &until}); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeDeployToken(ctx, p.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"fourth", "fifth"} {
			if tok, ok := found(t, secret); !ok || !tok.Revoked {
				t.Errorf("by %q after revoke: found %v, revoked %v", secret, ok, tok.Revoked)
			}
		}
		_, err := s.RotateDeployToken(ctx, tokens.DeployTokenRotation{ProjectID: p.ID, ID: d.ID, Digest: digest("sixth"), At: at})
		wantErr(t, "RotateDeployToken of a revoked token", err, tokens.ErrConflict)
		wantFound(t, map[string]bool{"sixth": false})
	})

	t.Run("delete owners", func(t *testing.T) {
		if err := s.DeleteProject(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteGroup(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		wantFound(t, map[string]bool{"fourth": false, "fifth": false, "group-first": false, "group-second": false})
		// A previous digest freed by deleting its token can be taken
		// again.
		reuse := mustDeployToken(t, s, other, "group-first")
		if tok, ok := found(t, "group-first"); !ok || tok.ID != reuse.ID {
			t.Errorf("reused digest answers %+v (found %v), want token %d", tok, ok, reuse.ID)
		}
	})
}

// testRotatePATWithGrace checks a PAT's rotation with overlap: the old
// token keeps working (found, not revoked) until the earlier of its expiry
// and the grace's end, can't be rotated twice, and rotating the successor
// revokes it at once; without a grace the old one is revoked as by
// RotatePAT.
func testRotatePATWithGrace(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	a := mustPAT(t, s, alice, "a")
	until := when.Add(time.Hour)
	successor := func(secret string, prev int64) tokens.PersonalAccessToken {
		return tokens.PersonalAccessToken{UserID: alice.ID, Name: a.Name, Scopes: a.Scopes, CreatedAt: when, Digest: digest(secret), PreviousID: prev}
	}

	wrong := successor("wrong", a.ID)
	wrong.UserID = bob.ID
	wantErr(t, "as another user", s.RotatePATWithGrace(ctx, a.ID, &wrong, until), tokens.ErrNotFound)
	missing := successor("missing", 99999)
	wantErr(t, "of a missing token", s.RotatePATWithGrace(ctx, 99999, &missing, until), tokens.ErrNotFound)

	b := successor("b", a.ID)
	if err := s.RotatePATWithGrace(ctx, a.ID, &b, until); err != nil {
		t.Fatalf("RotatePATWithGrace: %v", err)
	}
	if b.ID == 0 || b.ID == a.ID {
		t.Fatalf("successor ID %d", b.ID)
	}
	if got, _, err := s.PATByDigest(ctx, digest("a")); err != nil || got.Revoked || got.ExpiresAt == nil || !got.ExpiresAt.Equal(until) || got.ReplacedBy != b.ID {
		t.Errorf("old token in its grace: %+v, %v; want kept, expiring at %v, replaced by %d", got, err, until, b.ID)
	}
	if got, _, err := s.PATByDigest(ctx, digest("b")); err != nil {
		t.Errorf("successor by digest: %v", err)
	} else {
		wantEqual(t, "successor", got, b)
	}
	twice := successor("twice", a.ID)
	wantErr(t, "rotating a replaced token", s.RotatePATWithGrace(ctx, a.ID, &twice, until), tokens.ErrConflict)
	if _, _, err := s.PATByDigest(ctx, digest("twice")); !errors.Is(err, tokens.ErrNotFound) {
		t.Errorf("a refused rotation stored its token: %v", err)
	}

	// The grace ends no later than the token would have expired.
	soon := when.Add(time.Minute)
	c := successor("c", b.ID)
	c.ExpiresAt = &soon
	if err := s.RotatePATWithGrace(ctx, b.ID, &c, until); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PAT(ctx, a.ID); err != nil || !got.Revoked {
		t.Errorf("token of two rotations ago: %+v, %v; want revoked", got, err)
	}
	d := successor("d", c.ID)
	if err := s.RotatePATWithGrace(ctx, c.ID, &d, until); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PAT(ctx, c.ID); err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(soon) {
		t.Errorf("grace past the expiry: %+v, %v; want it to end at %v", got, err, soon)
	}

	// No grace: revoked at once, and the one before too.
	e := successor("e", 0)
	if err := s.RotatePATWithGrace(ctx, d.ID, &e, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{c.ID, d.ID} {
		if got, err := s.PAT(ctx, id); err != nil || !got.Revoked {
			t.Errorf("token %d after a rotation without grace: %+v, %v; want revoked", id, got, err)
		}
	}
}

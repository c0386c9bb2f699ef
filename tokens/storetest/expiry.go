package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testDeployTokensExpiring checks the index by expiry: a range answers the
// live tokens of projects and groups whose expiry lies in it (both ends
// included), ordered by expiry, not those revoked, without expiry or
// outside it; a rotation keeps a token in place; deleting the project or
// the group takes its tokens out.
func testDeployTokensExpiring(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	p := mustProject(t, s, "team/app", owner)
	g := mustGroup(t, s, "grp", tokens.Group{}, owner)
	day := 24 * time.Hour
	mk := func(secret string, group bool, in time.Duration) tokens.DeployToken {
		t.Helper()
		d := tokens.DeployToken{ProjectID: p.ID, Name: secret, Scopes: []string{tokens.ScopeReadRegistry}, CreatedAt: when, CreatorID: owner.ID, Digest: digest(secret)}
		if group {
			d.ProjectID, d.GroupID = 0, g.ID
		}
		if in != 0 {
			at := when.Add(in)
			d.ExpiresAt = &at
		}
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatalf("CreateDeployToken(%s): %v", secret, err)
		}
		return d
	}
	past := mk("past", false, -3*day)
	groupSoon := mk("group-soon", true, 2*day)
	soon := mk("soon", false, day)
	far := mk("far", false, 400*day)
	mk("never", false, 0)
	revoked := mk("revoked", false, day)
	groupRevoked := mk("group-revoked", true, day)
	if err := s.RevokeDeployToken(ctx, p.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeGroupDeployToken(ctx, g.ID, groupRevoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateDeployToken(ctx, tokens.DeployTokenRotation{ProjectID: p.ID, ID: soon.ID, Digest: digest("soon-2"), At: when}); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, from, to time.Time, want ...tokens.DeployToken) {
		t.Helper()
		got, err := s.DeployTokensExpiring(ctx, from, to)
		if err != nil {
			t.Fatalf("DeployTokensExpiring: %v", err)
		}
		var gotIDs, wantIDs []int64
		for _, d := range got {
			gotIDs = append(gotIDs, d.ID)
		}
		for _, d := range want {
			wantIDs = append(wantIDs, d.ID)
		}
		if !slices.Equal(gotIDs, wantIDs) {
			t.Errorf("IDs %v, want %v", gotIDs, wantIDs)
		}
		for i, d := range got {
			if i < len(want) && d.ID == want[i].ID && (d.ExpiresAt == nil || !d.ExpiresAt.Equal(*want[i].ExpiresAt) || d.Name != want[i].Name) {
				t.Errorf("token %d: %+v, want expiry %v and name %q", d.ID, d, want[i].ExpiresAt, want[i].Name)
			}
		}
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     []tokens.DeployToken
	}{
		{"sixty days from the start", time.Time{}, when.Add(60 * day), []tokens.DeployToken{past, soon, groupSoon}},
		{"since a day ago", when.Add(-day), when.Add(60 * day), []tokens.DeployToken{soon, groupSoon}},
		{"both ends included", *soon.ExpiresAt, *groupSoon.ExpiresAt, []tokens.DeployToken{soon, groupSoon}},
		{"ends just inside", soon.ExpiresAt.Add(time.Millisecond), groupSoon.ExpiresAt.Add(-time.Millisecond), nil},
		{"far", when.Add(300 * day), when.Add(500 * day), []tokens.DeployToken{far}},
		{"empty", when.Add(3 * day), when.Add(300 * day), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.from, tc.to, tc.want...) })
	}
	t.Run("deleted owners", func(t *testing.T) {
		if err := s.DeleteGroup(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		check(t, time.Time{}, when.Add(500*day), past, soon, far)
		if err := s.DeleteProject(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		check(t, time.Time{}, when.Add(500*day))
	})
}

package storetest

import (
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testRecordLastUses checks a batch of last uses: each credential's
// fields are set, a rotated deploy token's previous secret gets its own
// only while it is still the previous one, and a credential gone meanwhile
// is skipped without failing the rest.
func testRecordLastUses(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "owner")
	p := mustProject(t, s, "team/app", owner)
	d := mustDeployToken(t, s, p, "first")
	other := mustDeployToken(t, s, p, "other")
	pat := mustPAT(t, s, owner, "pat")
	until := when.Add(time.Hour)
	if _, err := s.RotateDeployToken(ctx, tokens.DeployTokenRotation{ProjectID: p.ID, ID: d.ID, Digest: digest("second"), At: when, PrevUntil: &until}); err != nil {
		t.Fatal(err)
	}
	at, prevAt := when.Add(time.Minute), when.Add(30*time.Second)
	uses := []tokens.LastUse{
		{DeployToken: true, ID: d.ID, At: at, IP: "192.0.2.1", Agent: "podman/5", PrevAt: &prevAt, PrevIP: "192.0.2.2", PrevAgent: "git/2", PrevDigest: digest("first")},
		// Its previous secret is not "other": no previous use recorded.
		{DeployToken: true, ID: other.ID, At: at, IP: "2001:db8::1", PrevAt: &prevAt, PrevIP: "192.0.2.9", PrevDigest: digest("other")},
		{ID: pat.ID, At: at, IP: "192.0.2.3", Agent: "curl/8"},
		{DeployToken: true, ID: 99999, At: at, IP: "192.0.2.4"},
		{ID: 99999, At: at, IP: "192.0.2.5"},
	}
	if err := s.RecordLastUses(ctx, uses); err != nil {
		t.Fatalf("RecordLastUses: %v", err)
	}
	if err := s.RecordLastUses(ctx, nil); err != nil {
		t.Fatalf("RecordLastUses of nothing: %v", err)
	}

	for _, tc := range []struct {
		name              string
		id                int64
		ip, agent         string
		prevAt            *time.Time
		prevIP, prevAgent string
		byDigest          string
	}{
		{"rotated token", d.ID, "192.0.2.1", "podman/5", &prevAt, "192.0.2.2", "git/2", "first"},
		{"token never rotated", other.ID, "2001:db8::1", "", nil, "", "", "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DeployToken(ctx, p.ID, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			want := struct {
				At                *time.Time
				IP, Agent         string
				PrevAt            *time.Time
				PrevIP, PrevAgent string
			}{&at, tc.ip, tc.agent, tc.prevAt, tc.prevIP, tc.prevAgent}
			gotFields := want
			gotFields.At, gotFields.IP, gotFields.Agent = got.LastUsedAt, got.LastUsedIP, got.LastUsedAgent
			gotFields.PrevAt, gotFields.PrevIP, gotFields.PrevAgent = got.PrevLastUsedAt, got.PrevLastUsedIP, got.PrevLastUsedAgent
			wantEqual(t, "last use", gotFields, want)
			a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: digest(tc.byDigest)})
			if err != nil || !a.Found {
				t.Fatalf("DeployTokenForAuth: %v, found %v", err, a.Found)
			}
			wantEqual(t, "token found by digest", a.Token, got)
		})
	}
	t.Run("personal access token", func(t *testing.T) {
		got, err := s.PAT(ctx, pat.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) || got.LastUsedIP != "192.0.2.3" || got.LastUsedAgent != "curl/8" {
			t.Errorf("PAT last use: %v %q %q", got.LastUsedAt, got.LastUsedIP, got.LastUsedAgent)
		}
	})
	t.Run("gone credentials stay gone", func(t *testing.T) {
		if _, err := s.DeployToken(ctx, p.ID, 99999); err == nil {
			t.Error("a last use created a deploy token")
		}
		if _, err := s.PAT(ctx, 99999); err == nil {
			t.Error("a last use created a personal access token")
		}
	})
	t.Run("a rotation starts the previous secret's last use afresh", func(t *testing.T) {
		got, err := s.RotateDeployToken(ctx, tokens.DeployTokenRotation{ProjectID: p.ID, ID: d.ID, Digest: digest("third"), At: at, PrevUntil: &until})
		if err != nil {
			t.Fatal(err)
		}
		if got.PrevLastUsedAt != nil || got.PrevLastUsedIP != "" || got.LastUsedIP != "192.0.2.1" {
			t.Errorf("after rotation: previous secret's use %v %q, token's %q", got.PrevLastUsedAt, got.PrevLastUsedIP, got.LastUsedIP)
		}
	})
}

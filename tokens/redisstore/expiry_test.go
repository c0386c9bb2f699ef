package redisstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// TestExpiryIndexOnOlderData: a database written before the expiry set
// existed gets it filled by New, without the revoked tokens and those
// that never expire, and kept by later writes.
func TestExpiryIndexOnOlderData(t *testing.T) {
	c, open := reopenable(t)
	ctx := t.Context()
	s := open()
	u := tokens.User{Username: "owner", CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	g := tokens.Group{Name: "g", Path: "g", FullPath: "g", Visibility: tokens.Private, CreatorID: u.ID}
	if err := s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{Path: "app", PathWithNamespace: "team/app", Visibility: tokens.Private, CreatorID: u.ID}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(name string, group bool, in time.Duration) tokens.DeployToken {
		d := tokens.DeployToken{ProjectID: p.ID, Name: name, Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte(name)}
		if group {
			d.ProjectID, d.GroupID = 0, g.ID
		}
		if in != 0 {
			at := base.Add(in)
			d.ExpiresAt = &at
		}
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	second := mk("second", true, 2*time.Hour)
	first := mk("first", false, time.Hour)
	mk("never", false, 0)
	revoked := mk("revoked", false, time.Hour)
	if err := s.RevokeDeployToken(ctx, p.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	// What an older version left: no expiry set, no marker.
	k := func(name string) string { return redisstore.DefaultPrefix + "{dt}:" + name }
	if n, err := c.Del(ctx, k("de"), k("dl-filled")).Result(); err != nil || n != 2 {
		t.Fatalf("deleted %d keys (%v), want 2", n, err)
	}
	s = open()
	after := mk("after", false, 3*time.Hour)
	tests := []struct {
		name string
		from time.Time
		want []int64
	}{
		{"all", time.Time{}, []int64{first.ID, second.ID, after.ID}},
		{"from the second", second.ExpiresAt.Add(-time.Minute), []int64{second.ID, after.ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.DeployTokensExpiring(ctx, tc.from, base.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("IDs %v, want %v", ids, tc.want)
			}
		})
	}
}

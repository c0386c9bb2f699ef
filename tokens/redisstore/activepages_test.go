package redisstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// TestActiveTokensOnOlderData: a database written before the lists of
// active deploy tokens existed gets them filled by New.
func TestActiveTokensOnOlderData(t *testing.T) {
	c, open := reopenable(t)
	ctx := t.Context()
	s := open()
	now := time.Now().Truncate(time.Millisecond)
	u := tokens.User{Username: "alice", CreatedAt: now}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	g := tokens.Group{Name: "g", Path: "g", FullPath: "g", Visibility: tokens.Private, CreatorID: u.ID}
	if err := s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{Path: "app", PathWithNamespace: "g/app", NamespaceID: g.ID, Visibility: tokens.Private, CreatorID: u.ID}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	var made []tokens.DeployToken
	for i, d := range []tokens.DeployToken{{GroupID: g.ID}, {ProjectID: p.ID, ExpiresAt: &later}, {ProjectID: p.ID}, {ProjectID: p.ID}} {
		d.Name, d.Scopes, d.Digest = "t", []string{tokens.ScopeReadRegistry}, fmt.Appendf(nil, "d%d", i)
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
		made = append(made, d)
	}
	if err := s.RevokeDeployToken(ctx, p.ID, made[3].ID); err != nil {
		t.Fatal(err)
	}
	// What an older version left: no lists, no marker.
	k := func(name string) string { return redisstore.DefaultPrefix + "{dt}:" + name }
	keys := []string{k("dl-filled"), k("dl"), k("de"), k("dw"), k(fmt.Sprint("pdl:", p.ID)), k(fmt.Sprint("pde:", p.ID)), k(fmt.Sprint("gdl:", g.ID)), k(fmt.Sprint("gde:", g.ID))}
	if err := c.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	s = open()
	tests := []struct {
		name string
		l    tokens.DeployTokenList
		at   time.Time
		want []int64
	}{
		{"all", tokens.DeployTokenList{}, now, []int64{made[0].ID, made[1].ID, made[2].ID}},
		{"project", tokens.DeployTokenList{ProjectID: p.ID}, now, []int64{made[1].ID, made[2].ID}},
		{"project, one expired", tokens.DeployTokenList{ProjectID: p.ID}, later, []int64{made[2].ID}},
		{"group", tokens.DeployTokenList{GroupID: g.ID}, now, []int64{made[0].ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, total, err := s.PageActiveDeployTokens(ctx, tt.l, tt.at, tokens.Page{Limit: 10})
			var got []int64
			for _, d := range ts {
				got = append(got, d.ID)
			}
			if err != nil || total != len(tt.want) || !slices.Equal(got, tt.want) {
				t.Errorf("%v of %d, %v; want %v", got, total, err, tt.want)
			}
		})
	}
}

package redisstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// TestTokenUsernamesOnOlderData: a database written before the sets of
// deploy tokens by username existed gets them filled by New.
func TestTokenUsernamesOnOlderData(t *testing.T) {
	c, open := reopenable(t)
	ctx := t.Context()
	s := open()
	u := tokens.User{Username: "alice", CreatedAt: time.Now()}
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
	var made []tokens.DeployToken
	for i, d := range []tokens.DeployToken{{GroupID: g.ID, Username: "Robot"}, {ProjectID: p.ID, Username: "robot"}, {ProjectID: p.ID}} {
		d.Name, d.Scopes, d.Digest = "t", []string{tokens.ScopeReadRegistry}, fmt.Appendf(nil, "d%d", i)
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
		made = append(made, d)
	}
	// What an older version left: no sets, no marker.
	k := func(name string) string { return redisstore.DefaultPrefix + "{dt}:" + name }
	keys := []string{k("du-filled")}
	for _, d := range made {
		keys = append(keys, k("du:"+strings.ToLower(d.Username)))
	}
	if err := c.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, keys...).Result(); err != nil || n != 0 {
		t.Fatalf("the sets are still there: %d, %v", n, err)
	}
	s = open()
	tests := []struct {
		username string
		want     []int64
	}{
		{"ROBOT", []int64{made[0].ID, made[1].ID}},
		{made[2].Username, []int64{made[2].ID}},
	}
	for _, tt := range tests {
		t.Run(tt.username, func(t *testing.T) {
			ts, err := s.DeployTokensByUsername(ctx, tt.username)
			var got []int64
			for _, d := range ts {
				got = append(got, d.ID)
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("DeployTokensByUsername = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

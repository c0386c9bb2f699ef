package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// TestPageIndexesOnOlderData: a database written before the sorted sets of
// deploy tokens and group members existed gets them filled by New.
func TestPageIndexesOnOlderData(t *testing.T) {
	c, open := reopenable(t)
	ctx := t.Context()
	s := open()
	var users []tokens.User
	for _, name := range []string{"alice", "bob"} {
		u := tokens.User{Username: name, CreatedAt: time.Now()}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	g := tokens.Group{Name: "g", Path: "g", FullPath: "g", Visibility: tokens.Private, CreatorID: users[0].ID}
	if err := s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: users[0].ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: g.ID, UserID: users[1].ID, AccessLevel: tokens.Developer}); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{Path: "app", PathWithNamespace: "g/app", NamespaceID: g.ID, Visibility: tokens.Private, CreatorID: users[0].ID}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: users[0].ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	for i, d := range []tokens.DeployToken{{GroupID: g.ID}, {GroupID: g.ID}, {ProjectID: p.ID}} {
		d.Name, d.Scopes, d.Digest = "t", []string{tokens.ScopeReadRegistry}, fmt.Appendf(nil, "d%d", i)
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	// What an older version left: no sorted sets, no marker.
	k := func(name string) string { return redisstore.DefaultPrefix + "{dt}:" + name }
	if err := c.Del(ctx, k("dz"), k("dz:filled"), k(fmt.Sprint("gdz:", g.ID)), k(fmt.Sprint("gmz:", g.ID))).Err(); err != nil {
		t.Fatal(err)
	}
	s = open()
	one := tokens.Page{Limit: 1}
	tests := []struct {
		name  string
		total func() (int, error)
		want  int
	}{
		{"all tokens", func() (int, error) { _, n, err := s.PageAllDeployTokens(ctx, one); return n, err }, 3},
		{"group tokens", func() (int, error) { _, n, err := s.PageGroupDeployTokens(ctx, g.ID, one); return n, err }, 2},
		{"group members", func() (int, error) { _, n, err := s.PageGroupMembers(ctx, g.ID, one); return n, err }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := tt.total(); err != nil || n != tt.want {
				t.Errorf("%d, %v; want %d", n, err, tt.want)
			}
		})
	}
}

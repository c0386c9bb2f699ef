package redisstore_test

import (
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// TestAdminIndexesOnOlderData: a database written before the sorted sets
// of users and tokens existed gets them filled by New, so its users and
// tokens are listed.
func TestAdminIndexesOnOlderData(t *testing.T) {
	c, open := reopenable(t)
	ctx := t.Context()
	s := open()
	var users []tokens.User
	for _, name := range []string{"alice", "bob", "gone", "carol"} {
		u := tokens.User{Username: name, CreatedAt: time.Now()}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	if err := s.SetUserBlocked(ctx, users[3].ID, true); err != nil {
		t.Fatal(err)
	}
	for i, u := range []tokens.User{users[0], users[1], users[1]} {
		p := tokens.PersonalAccessToken{UserID: u.ID, Name: "t", Digest: []byte{byte(i)}}
		if err := s.CreatePAT(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteUser(ctx, users[2].ID); err != nil {
		t.Fatal(err)
	}
	// What an older version left: no sorted sets, no marker.
	k := func(name string) string { return redisstore.DefaultPrefix + "{dt}:" + name }
	if err := c.Del(ctx, k("uz"), k("uz:filled"), k("ub"), k("tz"), k("ut:1"), k("ut:2")).Err(); err != nil {
		t.Fatal(err)
	}
	s = open()
	all := tokens.Page{Limit: 100}
	tests := []struct {
		name  string
		list  func() (int, error)
		total int
	}{
		{"users", func() (int, error) { _, n, err := s.ListUsers(ctx, tokens.UserQuery{Page: all}); return n, err }, 3},
		{"blocked users", func() (int, error) {
			_, n, err := s.ListUsers(ctx, tokens.UserQuery{Page: all, Blocked: true})
			return n, err
		}, 1},
		{"tokens", func() (int, error) { _, n, err := s.ListPATs(ctx, tokens.PATQuery{Page: all}); return n, err }, 3},
		{"bob's tokens", func() (int, error) {
			_, n, err := s.ListPATs(ctx, tokens.PATQuery{Page: all, UserID: users[1].ID})
			return n, err
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := tt.list(); err != nil || n != tt.total {
				t.Errorf("%d, %v; want %d", n, err, tt.total)
			}
		})
	}
}

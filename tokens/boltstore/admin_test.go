package boltstore_test

import (
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestFixtureAdminIndexes: a file written before the administration
// indexes existed gets them filled when it is opened, so its users and
// tokens are listed.
func TestFixtureAdminIndexes(t *testing.T) {
	s := openFixture(t, "2026-12-08.db")
	ctx := t.Context()
	all := tokens.Page{Limit: 100}
	users, total, err := s.ListUsers(ctx, tokens.UserQuery{Page: all})
	if err != nil || total != len(fxUsers) {
		t.Fatalf("ListUsers: %d users, %v; want %d", total, err, len(fxUsers))
	}
	wantEqualUsers := func(got, want []tokens.User) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("users %+v, want %+v", got, want)
		}
		for i := range got {
			if got[i].ID != want[i].ID || got[i].Username != want[i].Username || got[i].Blocked {
				t.Errorf("user %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	}
	wantEqualUsers(users, fxUsers)
	tests := []struct {
		name  string
		q     tokens.PATQuery
		want  []int64
		total int
	}{
		{"all tokens", tokens.PATQuery{Page: all}, []int64{1, 2, 3, 4}, 4},
		{"carol's tokens", tokens.PATQuery{Page: all, UserID: 3}, []int64{3, 4}, 2},
		{"dave has none", tokens.PATQuery{Page: all, UserID: 4}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.ListPATs(ctx, tt.q)
			if err != nil || total != tt.total || len(got) != len(tt.want) {
				t.Fatalf("ListPATs: %+v (total %d), %v; want IDs %v", got, total, err, tt.want)
			}
			for i, p := range got {
				if p.ID != tt.want[i] {
					t.Errorf("token %d: ID %d, want %d", i, p.ID, tt.want[i])
				}
			}
		})
	}
	if _, total, err := s.ListUsers(ctx, tokens.UserQuery{Page: all, Blocked: true}); err != nil || total != 0 {
		t.Errorf("blocked users of the fixture: %d, %v; want none", total, err)
	}
}

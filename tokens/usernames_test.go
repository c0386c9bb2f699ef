package tokens_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// noListAllDeployTokens is a store that fails the test on a read of every
// deploy token, which creating a user may not need (issue 21).
type noListAllDeployTokens struct {
	tokens.Store
	t *testing.T
}

func (s noListAllDeployTokens) ListAllDeployTokens(ctx context.Context) ([]tokens.DeployToken, error) {
	s.t.Error("ListAllDeployTokens: every deploy token read")
	return s.Store.ListAllDeployTokens(ctx)
}

// TestCreateUserTokenUsernames: a new user's username is refused while a
// live deploy token holds it (any case, of a project or a group), and
// allowed when the tokens holding it are revoked or expired, without
// reading every deploy token.
func TestCreateUserTokenUsernames(t *testing.T) {
	ctx := t.Context()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "names.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	owner := tokens.User{Username: "owner", CreatedAt: now}
	if err := bs.CreateUser(ctx, &owner); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{Path: "app", PathWithNamespace: "owner/app", Visibility: tokens.Private, CreatedAt: now}
	if err := bs.CreateProject(ctx, &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	g := tokens.Group{Name: "g", Path: "g", FullPath: "g", Visibility: tokens.Private, CreatorID: owner.ID}
	if err := bs.CreateGroup(ctx, &g, tokens.GroupMember{UserID: owner.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	for i, d := range []tokens.DeployToken{
		{ProjectID: p.ID, Username: "Robot"},
		{GroupID: g.ID, Username: "group-bot"},
		{ProjectID: p.ID, Username: "soon-bot", ExpiresAt: &future},
		{ProjectID: p.ID, Username: "old-bot", ExpiresAt: &past},
		{ProjectID: p.ID, Username: "gone-bot"},
		{ProjectID: p.ID, Username: "again-bot"},
		{ProjectID: p.ID, Username: "again-bot"},
	} {
		d.Name, d.Scopes, d.CreatedAt, d.Digest = "t", []string{tokens.ScopeReadRegistry}, now, fmt.Appendf(nil, "digest-%d", i)
		if err := bs.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
		if d.Username == "gone-bot" || (d.Username == "again-bot" && i == 5) {
			if err := bs.RevokeDeployToken(ctx, p.ID, d.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	svc := &tokens.Service{Store: noListAllDeployTokens{bs, t}, Now: func() time.Time { return now }}
	admin := &tokens.Actor{User: tokens.User{ID: owner.ID, Username: "owner", Admin: true}}
	tests := []struct {
		name     string
		username string
		conflict bool
	}{
		{"live project token, other case", "robot", true},
		{"live group token", "GROUP-BOT", true},
		{"expires later", "soon-bot", true},
		{"one of two revoked", "again-bot", true},
		{"expired", "old-bot", false},
		{"revoked", "gone-bot", false},
		{"no token", "fresh", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.CreateUser(ctx, admin, tokens.CreateUserInput{Username: tt.username})
			var e *tokens.Error
			got := errors.As(err, &e) && e.Kind == tokens.KindConflict
			if got != tt.conflict || (!tt.conflict && err != nil) {
				t.Errorf("CreateUser(%q) = %v; want conflict %v", tt.username, err, tt.conflict)
			}
		})
	}
}

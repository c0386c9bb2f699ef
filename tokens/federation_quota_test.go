package tokens_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestFederationQuotaFreedByRevocation: a maintainer of another project
// who gives deploy tokens the same username, fills the username's cap of
// federated identities and revokes the tokens, does not keep this
// project's token of that username from its first policy: the policies of
// revoked, expired and deleted tokens are dropped on the next write.
func TestFederationQuotaFreedByRevocation(t *testing.T) {
	ctx := context.Background()
	s, keys := openStore(t)
	iss := "https://issuer.example"
	svc := &tokens.Service{Store: s, Keys: keys, OIDCIssuers: []string{iss}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mkUser := func(name string, admin bool) *tokens.Actor {
		u := tokens.User{Username: name, Name: name, Admin: admin, CreatedAt: time.Now()}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		return &tokens.Actor{User: u, Scopes: []string{tokens.ScopeAPI}}
	}
	victim, attacker := mkUser("victim", false), mkUser("mallory", false)
	for _, p := range []struct {
		a  *tokens.Actor
		ns string
	}{{victim, "victim"}, {attacker, "mallory"}} {
		if _, err := svc.CreateProject(ctx, p.a, tokens.CreateProjectInput{Path: "app", NamespacePath: p.ns}); err != nil {
			t.Fatal(err)
		}
	}
	vt, _, err := svc.CreateDeployToken(ctx, victim, "victim/app", tokens.CreateDeployTokenInput{Name: "ci", Username: "ci-bot", Scopes: []string{"read_registry"}})
	if err != nil {
		t.Fatal(err)
	}
	in := tokens.FederatedIdentityInput{Issuer: iss, Audience: "dt", Claims: map[string]string{"sub": "x"}}
	for i := range 5 {
		at, _, err := svc.CreateDeployToken(ctx, attacker, "mallory/app", tokens.CreateDeployTokenInput{Name: fmt.Sprint("t", i), Username: "ci-bot", Scopes: []string{"read_registry"}})
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if _, err := svc.CreateFederatedIdentity(ctx, attacker, false, "mallory/app", at.ID, in); err != nil {
				t.Fatal(err)
			}
		}
		// Revoking does not free the policies either.
		if err := svc.RevokeDeployToken(ctx, attacker, "mallory/app", at.ID); err != nil {
			t.Fatal(err)
		}
	}
	_, err = svc.CreateFederatedIdentity(ctx, victim, false, "victim/app", vt.ID, in)
	if err != nil {
		t.Errorf("another project's revoked tokens block this project's first policy: %v", err)
	}
}

package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// testFederatedIdentities: federated identities live in the KV (one
// document per deploy token username, written by compare-and-swap); on
// every store they keep their fields and ids, are told apart between
// tokens that share a username, and concurrent writers lose none.
func testFederatedIdentities(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	const iss = "https://gitlab.example.com"
	svc := &tokens.Service{Store: s, OIDCIssuers: []string{iss}}
	root := tokens.User{Username: "fedroot", Admin: true, CreatedAt: when}
	if err := s.CreateUser(ctx, &root); err != nil {
		t.Fatal(err)
	}
	admin := &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	mk := func(path, username string) (tokens.Project, tokens.DeployToken) {
		t.Helper()
		p := tokens.Project{Path: "app", PathWithNamespace: path, CreatorID: root.ID, CreatedAt: when}
		if err := s.CreateProject(ctx, &p, tokens.Member{UserID: root.ID, AccessLevel: tokens.Owner, CreatedAt: when}); err != nil {
			t.Fatal(err)
		}
		dt := tokens.DeployToken{ProjectID: p.ID, Name: "ci", Username: username, Scopes: []string{tokens.ScopeReadRegistry}, CreatedAt: when, Digest: []byte(path)}
		if err := s.CreateDeployToken(ctx, &dt); err != nil {
			t.Fatal(err)
		}
		return p, dt
	}
	a, ta := mk("fed/a", "shared-ci")
	b, tb := mk("fed/b", "shared-ci") // the same username, another token
	in := func(sub string) tokens.FederatedIdentityInput {
		return tokens.FederatedIdentityInput{Issuer: iss, Audience: "deploytokens", Claims: map[string]string{"project_path": sub, "ref_protected": "true"}}
	}

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			tok, proj := ta, a
			if i%2 == 1 {
				tok, proj = tb, b
			}
			_, errs[i] = svc.CreateFederatedIdentity(ctx, admin, false, proj.PathWithNamespace, tok.ID, in(fmt.Sprint("group/p", i)))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent create %d: %v", i, err)
		}
	}
	all, err := tokens.FederatedIdentitiesByUsername(ctx, s, "shared-ci")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(errs) {
		t.Fatalf("%d identities stored after %d concurrent creates", len(all), len(errs))
	}
	ids := map[int64]bool{}
	for _, f := range all {
		ids[f.ID] = true
	}
	if len(ids) != len(all) {
		t.Fatalf("ids are not unique: %+v", all)
	}
	listA, err := svc.ListFederatedIdentities(ctx, admin, false, "fed/a", ta.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(listA) != 4 || slices.ContainsFunc(listA, func(f tokens.FederatedIdentity) bool { return f.TokenID != ta.ID || f.ProjectID != a.ID }) {
		t.Fatalf("token a's identities: %+v", listA)
	}
	got := listA[0]
	if got.Issuer != iss || got.Audience != "deploytokens" || got.Claims["ref_protected"] != "true" || got.CreatorID != root.ID {
		t.Errorf("identity read back as %+v", got)
	}
	// b's policies are not a's to delete.
	if err := svc.DeleteFederatedIdentity(ctx, admin, false, "fed/a", ta.ID, mustOther(t, all, ta.ID)); tokens.KindOf(err) != tokens.KindNotFound {
		t.Errorf("delete of another token's identity through a: %v; want not found", err)
	}
	if err := svc.DeleteFederatedIdentity(ctx, admin, false, "fed/a", ta.ID, got.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FederatedIdentity(ctx, admin, false, "fed/a", ta.ID, got.ID); tokens.KindOf(err) != tokens.KindNotFound {
		t.Errorf("deleted identity: %v; want not found", err)
	}
	if all, _ := tokens.FederatedIdentitiesByUsername(ctx, s, "shared-ci"); len(all) != len(errs)-1 {
		t.Errorf("%d identities after one delete; want %d", len(all), len(errs)-1)
	}
}

func mustOther(t *testing.T, all []tokens.FederatedIdentity, not int64) int64 {
	t.Helper()
	for _, f := range all {
		if f.TokenID != not {
			return f.ID
		}
	}
	t.Fatal("no identity of another token")
	return 0
}

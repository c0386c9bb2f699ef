package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestFederatedIdentitiesPage: a maintainer lists, adds and deletes a
// deploy token's federated identities on the settings page; bad input is
// shown again with the field named, and nothing is stored.
func TestFederatedIdentitiesPage(t *testing.T) {
	const iss = "https://token.actions.githubusercontent.com"
	e, b := signedInMaintainer(t)
	e.svc.OIDCIssuers = []string{iss}
	ctx := context.Background()
	dt, _, err := e.svc.CreateDeployToken(ctx, e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "ci", Username: "keyless-ci", Scopes: []string{tokens.ScopeReadRegistry}})
	if err != nil {
		t.Fatal(err)
	}
	const settings = "/tanuki/app/-/settings/repository"
	stored := func() []tokens.FederatedIdentity {
		t.Helper()
		ids, err := e.svc.ListFederatedIdentities(ctx, e.admin, false, "tanuki/app", dt.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	form := func(claims string) url.Values {
		return url.Values{"token_id": {fmt.Sprint(dt.ID)}, "issuer": {iss}, "audience": {"deploytokens"}, "claims": {claims}}
	}
	if r := b.get(settings); r.Status != 200 || !strings.Contains(r.Body, "Federated identities (0)") || !strings.Contains(r.Body, `id="new-identity-form"`) {
		t.Fatalf("settings page: %d, no federated identities section", r.Status)
	}

	bad := []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"glob matching everything", form("sub = *"), 422, "claims[sub] is a glob that matches everything"},
		{"no subject claim", form("ref = refs/heads/main"), 422, "claims must constrain a subject claim"},
		{"not name=value", form("repository org/repo"), 422, "claims line 1 is not name=value"},
		{"issuer not allowed", func() url.Values { f := form("sub = x"); f.Set("issuer", "https://evil.example"); return f }(), 422, "issuer is not one of the OIDC issuers"},
		{"no audience", func() url.Values { f := form("sub = x"); f.Set("audience", ""); return f }(), 422, "audience is missing"},
		{"bad token id", func() url.Values { f := form("sub = x"); f.Set("token_id", "x"); return f }(), 422, "token_id must name one of the active deploy tokens"},
		{"another project's token", func() url.Values { f := form("sub = x"); f.Set("token_id", "999"); return f }(), 422, "Deploy Token not found"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			b.get(settings)
			r := b.post(settings+"/deploy_tokens/federated_identities", tt.form, true)
			if r.Status != tt.status || !strings.Contains(r.Body, tt.want) {
				t.Fatalf("%d; want %d with %q:\n%s", r.Status, tt.status, tt.want, r.Body)
			}
			if ids := stored(); len(ids) != 0 {
				t.Fatalf("stored %+v", ids)
			}
		})
	}
	t.Run("without the form's CSRF token", func(t *testing.T) {
		if r := b.post(settings+"/deploy_tokens/federated_identities", form("repository = org/repo"), false); r.Status != http.StatusForbidden {
			t.Fatalf("%d", r.Status)
		}
	})

	b.get(settings)
	r := b.post(settings+"/deploy_tokens/federated_identities", form("repository = org/repo\r\nref = refs/heads/*"), true)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	ids := stored()
	if len(ids) != 1 || ids[0].Claims["repository"] != "org/repo" || ids[0].Claims["ref"] != "refs/heads/*" || ids[0].Issuer != iss {
		t.Fatalf("stored %+v", ids)
	}
	page := b.get(strings.TrimPrefix(r.location(), e.srv.URL))
	for _, want := range []string{"Added a federated identity to deploy token ci (keyless-ci).", "Federated identities (1)", "<code>ref = refs/heads/*</code>", "<code>repository = org/repo</code>"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("page after adding lacks %q", want)
		}
	}
	r = b.post(fmt.Sprintf("%s/deploy_tokens/%d/federated_identities/%d/delete", settings, dt.ID, ids[0].ID), nil, true)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if ids := stored(); len(ids) != 0 {
		t.Fatalf("after delete: %+v", ids)
	}

	t.Run("no section while no issuer is allowed", func(t *testing.T) {
		e.svc.OIDCIssuers = nil
		defer func() { e.svc.OIDCIssuers = []string{iss} }()
		if r := b.get(settings); strings.Contains(r.Body, "Federated identities") {
			t.Error("the section is shown with no issuer allowed")
		}
	})
}

// FuzzParseClaims: the form's claims never panic the parser, and what it
// reads has names without = or surrounding space.
func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{"repository = org/repo\nref = refs/heads/*", "sub=x\r\nsub=y", "=x", "a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		claims, err := parseClaims(s)
		if err != nil {
			return
		}
		for k := range claims {
			if k == "" || strings.Contains(k, "=") || strings.TrimSpace(k) != k {
				t.Fatalf("parseClaims(%q) read the name %q", s, k)
			}
		}
	})
}

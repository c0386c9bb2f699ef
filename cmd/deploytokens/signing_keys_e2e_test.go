package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

type signingKeyView struct {
	KID    string `json:"kid"`
	Active bool   `json:"active"`
}

func activeKID(t *testing.T, ks []signingKeyView) string {
	t.Helper()
	for _, k := range ks {
		if k.Active {
			return k.KID
		}
	}
	t.Fatalf("no active key in %+v", ks)
	return ""
}

// TestSigningKeysAPI: an admin lists and rotates the registry's signing
// keys through the API, which is how a server on the embedded store
// rotates them (keys rotate can't open the store while the server runs).
// In x5c mode the registry, configured once with the root, verifies the
// new leaf's tokens with no restart.
func TestSigningKeysAPI(t *testing.T) {
	s := startServer(t, func(c *Config) { c.SigningMode = "x5c" })
	bundle := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(bundle, s.app.signer.RootCertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, testenv.RegistryConfig{
		Realm: "http://" + s.Host + "/jwt/auth", Service: s.cfg.RegistryService, Issuer: s.cfg.RegistryIssuer,
		RootCertBundle: bundle, SigningAlgorithms: []string{s.cfg.SigningAlg},
	})
	s.project(t, s.AdminToken, "tanuki/app", "private")
	if _, err := testenv.PushRandomImage(t, reg.Host()+"/tanuki/app:v1", "root", s.AdminToken); err != nil {
		t.Fatalf("push: %v\nregistry log:\n%s", err, reg.Log())
	}
	_, alice := s.user(t, "alice")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "puller", "scopes": []string{"read_registry"}})
	crane := testenv.Crane(t)
	if err := crane.Login(reg.Host(), d.Username, d.Token); err != nil {
		t.Fatal(err)
	}

	var before []signingKeyView
	s.mustAPI(t, 200, "GET", "/admin/signing_keys", s.AdminToken, nil, &before)
	first := activeKID(t, before)
	s.mustAPI(t, 403, "GET", "/admin/signing_keys", alice, nil, nil)
	s.mustAPI(t, 403, "POST", "/admin/signing_keys/rotate", alice, nil, nil)

	var after []signingKeyView
	s.mustAPI(t, 201, "POST", "/admin/signing_keys/rotate", s.AdminToken, nil, &after)
	next := activeKID(t, after)
	if next == first {
		t.Fatalf("the active key is still %s after a rotation", first)
	}
	if got := s.app.signer.ActiveKID(); got != next {
		t.Fatalf("the server signs with %s, the API answered %s", got, next)
	}
	if err := crane.Pull(reg.Host() + "/tanuki/app:v1"); err != nil {
		t.Fatalf("pull with the new leaf, registry untouched: %v\nregistry log:\n%s", err, reg.Log())
	}
}

// TestSigningKeysAPIRotationPending: a rotation the keys' state refuses
// (a key published with a lead that doesn't sign yet) is a 409 saying
// so, not a server error.
func TestSigningKeysAPIRotationPending(t *testing.T) {
	s := startServer(t, func(c *Config) { c.RotationLead = time.Hour })
	s.mustAPI(t, 201, "POST", "/admin/signing_keys/rotate", s.AdminToken, nil, nil)
	r := s.mustAPI(t, 409, "POST", "/admin/signing_keys/rotate", s.AdminToken, nil, nil)
	if msg := r.message(); msg == "" {
		t.Fatalf("409 without a message: %s", r.Body)
	}
}

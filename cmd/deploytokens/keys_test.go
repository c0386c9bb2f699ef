package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens/cache"
	"github.com/deploytokens/deploytokens/tokens/storetest"
)

// TestSigningModes: each algorithm and key export the README offers is
// accepted by the real registry.
func TestSigningModes(t *testing.T) {
	tests := []struct {
		name, alg, kid      string
		x5c, certs, keyFile bool
	}{
		{"RS256 jwks", "RS256", "thumbprint", false, false, false},
		{"EdDSA jwks", "EdDSA", "thumbprint", false, false, false},
		{"ES256 libtrust kid", "ES256", "libtrust", false, false, false},
		{"ES256 x5c rootcertbundle", "ES256", "thumbprint", true, true, false},
		{"ES256 key file", "ES256", "thumbprint", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keyFile := ""
			if tt.keyFile {
				k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				der, _ := x509.MarshalPKCS8PrivateKey(k)
				keyFile = filepath.Join(t.TempDir(), "signing.pem")
				if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s := startServer(t, func(c *Config) { c.SigningAlg, c.KidFormat, c.X5C, c.SigningKeyFile = tt.alg, tt.kid, tt.x5c, keyFile })
			dir := t.TempDir()
			cfg := testenv.RegistryConfig{Realm: "http://" + s.Host + "/jwt/auth", Service: s.cfg.RegistryService,
				Issuer: s.cfg.RegistryIssuer, SigningAlgorithms: []string{tt.alg}}
			if tt.certs {
				cfg.RootCertBundle = filepath.Join(dir, "certs.pem")
				os.WriteFile(cfg.RootCertBundle, s.app.signer.CertificatesPEM(), 0o600)
			} else {
				cfg.JWKSFile = filepath.Join(dir, "jwks.json")
				os.WriteFile(cfg.JWKSFile, s.app.signer.JWKS(), 0o600)
			}
			reg := testenv.StartRegistry(t, cfg)
			s.project(t, s.AdminToken, "tanuki/app", "private")
			if _, err := testenv.PushRandomImage(t, reg.Host()+"/tanuki/app:v1", "root", s.AdminToken); err != nil {
				t.Fatalf("push: %v", err)
			}
			d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "r", "scopes": []string{"read_registry"}})
			crane := testenv.Crane(t)
			crane.Login(reg.Host(), d.Username, d.Token)
			if err := crane.Pull(reg.Host() + "/tanuki/app:v1"); err != nil {
				t.Fatalf("pull: %v", err)
			}
		})
	}
}

// TestKeysCommand: keys jwks prints the set the server publishes, keys
// rotate adds a key and keeps the old one published.
func TestKeysCommand(t *testing.T) {
	s := startServer(t, nil)
	published := s.app.signer.JWKS()
	active := s.app.signer.ActiveKID()
	env := func(k string) string {
		return map[string]string{"DEPLOYTOKENS_DATA_DIR": s.cfg.DataDir, "DEPLOYTOKENS_ADMIN_TOKEN": s.AdminToken}[k]
	}
	// While the server holds the embedded store, the command says what to do.
	for what, hint := range map[string]string{"cert": "stop the server first", "jwks": "keys jwks --from URL"} {
		var errb bytes.Buffer
		if code := run(t.Context(), []string{"keys", what}, env, &bytes.Buffer{}, &errb); code == 0 || !strings.Contains(errb.String(), hint) {
			t.Errorf("keys %s beside a running server: exit %d: %s", what, code, errb.String())
		}
	}
	s.shutdown(t)
	keys := func(args ...string) string {
		var out, errb bytes.Buffer
		if code := run(t.Context(), append([]string{"keys"}, args...), env, &out, &errb); code != 0 {
			t.Fatalf("keys %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	if got := strings.TrimSpace(keys("jwks")); got != strings.TrimSpace(string(published)) {
		t.Fatalf("keys jwks = %s\nserver published %s", got, published)
	}
	if pem := keys("cert"); !strings.Contains(pem, "BEGIN CERTIFICATE") {
		t.Fatalf("keys cert = %q", pem)
	}
	if out := keys("rotate"); strings.Contains(out, active) {
		t.Fatalf("rotate kept the old key active: %s", out)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	json.Unmarshal([]byte(keys("jwks")), &set)
	if len(set.Keys) != 2 || (set.Keys[0].Kid != active && set.Keys[1].Kid != active) {
		t.Fatalf("after rotate: %+v", set)
	}
	// With a lead, the new key is published at once and signs later: a
	// server started now still signs with the key before it.
	signing := func() string {
		s2 := startServer(t, func(c *Config) { c.DataDir = s.cfg.DataDir; c.AdminToken = s.AdminToken })
		defer s2.shutdown(t)
		return s2.app.signer.ActiveKID()
	}
	before := signing()
	leadEnv := func(k string) string {
		if k == "DEPLOYTOKENS_ROTATION_LEAD" {
			return "1h"
		}
		return env(k)
	}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"keys", "rotate"}, leadEnv, &out, &errOut); code != 0 || !strings.Contains(out.String(), "before then") {
		t.Fatalf("keys rotate with a lead: exit %d: %s %s", code, out.String(), errOut.String())
	}
	json.Unmarshal([]byte(keys("jwks")), &set)
	if len(set.Keys) != 3 {
		t.Fatalf("after a rotation with a lead, published: %+v; want the new key too", set)
	}
	if after := signing(); after != before || strings.Contains(out.String(), after) {
		t.Fatalf("signing with %s after a rotation with a lead (before: %s; rotate said %q)", after, before, out.String())
	}
	var errb bytes.Buffer
	if code := run(t.Context(), []string{"keys", "nonsense"}, env, &bytes.Buffer{}, &errb); code == 0 {
		t.Fatal("keys nonsense succeeded")
	}
}

// TestNoSecretInStore creates tokens through the API on both stores, then
// reads every key and value of the store: no secret is there in plaintext.
func TestNoSecretInStore(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			s := startServer(t, st.mod)
			s.project(t, s.AdminToken, "tanuki/app", "")
			_, pat := s.user(t, "alice")
			d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "x", "scopes": []string{"read_registry"}})
			ci := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "gitlab-deploy-token", "scopes": []string{"read_registry"}})
			r := tokenRequest(t, s, d.Username, d.Token, "repository:tanuki/app:pull")
			if r.Status != 200 {
				t.Fatal(r.Status)
			}
			store := s.app.store
			if c, ok := store.(*cache.Store); ok {
				store = c.Source // the replica cache keeps nothing of its own
			}
			dump, err := store.(storetest.Dumper).Dump(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(dump) < 5 {
				t.Fatalf("dump has only %d entries", len(dump))
			}
			for _, secret := range []string{pat, d.Token, ci.Token, s.AdminToken} {
				for k, v := range dump {
					if strings.Contains(k, secret) || bytes.Contains(v, []byte(secret)) || bytes.Contains(v, []byte(secret[4:])) {
						t.Errorf("a secret is stored in plaintext under %q", k)
					}
				}
			}
		})
	}
}

// TestDeletedProjectTokensStop: deleting a project ends its tokens at once.
func TestDeletedProjectTokensStop(t *testing.T) {
	s := startServer(t, nil)
	p := s.project(t, s.AdminToken, "tanuki/app", "")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "x", "scopes": []string{"read_registry"}})
	if r := tokenRequest(t, s, d.Username, d.Token); r.Status != 200 {
		t.Fatalf("before: %d", r.Status)
	}
	s.mustAPI(t, 202, "DELETE", fmt.Sprintf("/projects/%d", p.ID), s.AdminToken, nil, nil)
	if r := tokenRequest(t, s, d.Username, d.Token); r.Status != 401 {
		t.Fatalf("after delete: %d %s", r.Status, r.Body)
	}
	if _, err := os.Stat(filepath.Join(s.cfg.ReposDir, "tanuki", "app.git")); !os.IsNotExist(err) {
		t.Fatalf("repository left behind: %v", err)
	}
}

// TestReplicasShareKeys: two servers on one Redis sign with the same key
// and publish the same set; a token one issues verifies with the other's.
func TestReplicasShareKeys(t *testing.T) {
	redisURL := redisConfig(t)
	a := startServer(t, redisURL)
	b := startServer(t, func(c *Config) { redisURL(c); c.SecretFile = a.cfg.SecretFile; c.AdminToken = a.AdminToken })
	if string(a.app.signer.JWKS()) != string(b.app.signer.JWKS()) || a.app.signer.ActiveKID() != b.app.signer.ActiveKID() {
		t.Fatalf("replicas publish different keys:\n%s\n%s", a.app.signer.JWKS(), b.app.signer.JWKS())
	}
	a.project(t, a.AdminToken, "tanuki/app", "private")
	d := a.deployToken(t, a.AdminToken, "tanuki/app", map[string]any{"name": "x", "scopes": []string{"read_registry"}})
	r := tokenRequest(t, b, d.Username, d.Token, "repository:tanuki/app:pull")
	if r.Status != 200 {
		t.Fatalf("replica b: %d %s", r.Status, r.Body)
	}
	tokenClaims(t, a, r.Body) // verifies with a's published keys
	// TestReplicasSeeChangesWithinASecond revokes through one replica.
}

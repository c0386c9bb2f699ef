package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// TestX5CRegistryNoRestart is the x5c signing mode with the real registry,
// configured once with the root certificate that `keys cert --root` prints
// (rootcertbundle only) and never restarted: pull, rotate, pull with a new
// token, rotate again, pull; and a token the first leaf signed still
// verifies at the registry after both rotations, until it expires. The
// server runs on Redis so the keys commands run beside it, as an operator
// would run them.
func TestX5CRegistryNoRestart(t *testing.T) {
	redisURL := redisConfig(t)
	s := startServer(t, func(c *Config) { redisURL(c); c.SigningMode = "x5c" })
	vars := map[string]string{
		"DEPLOYTOKENS_REDIS_URL": s.cfg.RedisURL, "DEPLOYTOKENS_DATA_DIR": s.cfg.DataDir,
		"DEPLOYTOKENS_ADMIN_TOKEN": s.AdminToken, "DEPLOYTOKENS_SIGNING_MODE": "x5c",
	}
	keys := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(t.Context(), append([]string{"keys"}, args...), func(k string) string { return vars[k] }, &out, &errb); code != 0 {
			t.Fatalf("keys %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}

	root := keys("cert", "--root")
	if n := strings.Count(root, "BEGIN CERTIFICATE"); n != 1 || root != string(s.app.signer.RootCertificatePEM()) {
		t.Fatalf("keys cert --root printed %d certificates, or not the server's root:\n%s", n, root)
	}
	bundle := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(bundle, []byte(root), 0o600); err != nil {
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
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "puller", "scopes": []string{"read_registry"}})
	crane := testenv.Crane(t)
	if err := crane.Login(reg.Host(), d.Username, d.Token); err != nil {
		t.Fatal(err)
	}
	pull := func(step string) {
		t.Helper()
		// Each crane run asks the server for a new token.
		if err := crane.Pull(reg.Host() + "/tanuki/app:v1"); err != nil {
			t.Fatalf("%s: pull: %v\nregistry log:\n%s", step, err, reg.Log())
		}
	}
	pull("first leaf")

	// A token of the first leaf, kept for after the rotations.
	r := tokenRequest(t, s, d.Username, d.Token, "repository:tanuki/app:pull")
	var ans struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.Body, &ans); r.Status != http.StatusOK || err != nil {
		t.Fatalf("token request: %d %s", r.Status, r.Body)
	}
	firstKID := s.app.signer.ActiveKID()
	checkLeafHeader(t, ans.Token, firstKID)

	kids := []string{firstKID}
	for _, step := range []string{"first rotation", "second rotation"} {
		out := keys("rotate")
		if !strings.Contains(out, "the registry needs no change") {
			t.Errorf("%s: keys rotate said %q", step, out)
		}
		// What Run does every refresh interval, at once.
		if err := s.app.signer.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		kid := s.app.signer.ActiveKID()
		for _, k := range kids {
			if kid == k {
				t.Fatalf("%s: the server still signs with leaf %s", step, kid)
			}
		}
		if !strings.Contains(out, kid) {
			t.Errorf("%s: keys rotate named another leaf than the server signs with (%s): %q", step, kid, out)
		}
		kids = append(kids, kid)
		pull(step)
	}
	if now := keys("cert", "--root"); now != root {
		t.Fatal("the root certificate changed with a leaf rotation")
	}

	// The first leaf's token, straight to the registry's API.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+reg.Addr+"/v2/tanuki/app/manifests/v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ans.Token)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp := do(t, req)
	if resp.Status != http.StatusOK {
		t.Fatalf("a token of the first leaf, after two rotations: %d %s\nregistry log:\n%s", resp.Status, resp.Body, reg.Log())
	}
}

// checkLeafHeader checks that tok's header names kid and carries one
// certificate in x5c, the leaf, not the root.
func checkLeafHeader(t *testing.T, tok, kid string) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string   `json:"kid"`
		X5C []string `json:"x5c"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if h.Kid != kid || len(h.X5C) != 1 {
		t.Fatalf("token header kid %s with %d x5c certificates; want kid %s and the leaf alone", h.Kid, len(h.X5C), kid)
	}
}

// TestX5CSettings: the settings of the x5c mode, and keys cert --root
// outside it.
func TestX5CSettings(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		env   map[string]string
		names []string // settings the error names; none: accepted
	}{
		{"x5c", map[string]string{"DEPLOYTOKENS_SIGNING_MODE": "x5c"}, nil},
		{"x5c without rotation", map[string]string{"DEPLOYTOKENS_SIGNING_MODE": "x5c", "DEPLOYTOKENS_KEY_ROTATION": "0"}, nil},
		{"unknown mode", map[string]string{"DEPLOYTOKENS_SIGNING_MODE": "chain"}, []string{"--signing-mode"}},
		{"x5c with a key file", map[string]string{"DEPLOYTOKENS_SIGNING_MODE": "x5c", "DEPLOYTOKENS_SIGNING_KEY_FILE": keyFile}, []string{"--signing-mode"}},
		{"x5c with a lead", map[string]string{"DEPLOYTOKENS_SIGNING_MODE": "x5c", "DEPLOYTOKENS_ROTATION_LEAD": "15m"}, []string{"--rotation-lead"}},
		{"rotation too short", map[string]string{"DEPLOYTOKENS_SIGNING_MODE": "x5c", "DEPLOYTOKENS_KEY_ROTATION": "10s"}, []string{"--key-rotation"}},
		{"negative rotation", map[string]string{"DEPLOYTOKENS_KEY_ROTATION": "-1h"}, []string{"--key-rotation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig("serve", nil, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			if (err != nil) != (len(tt.names) > 0) {
				t.Fatalf("loadConfig = %v, want problems with %v", err, tt.names)
			}
			for _, n := range tt.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error does not name %s: %v", n, err)
				}
			}
		})
	}

	t.Run("keys cert --root in jwks mode", func(t *testing.T) {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		env := func(k string) string { return map[string]string{"DEPLOYTOKENS_DATA_DIR": dir}[k] }
		if code := run(t.Context(), []string{"keys", "cert", "--root"}, env, &out, &errb); code == 0 || !strings.Contains(errb.String(), "--signing-mode x5c") {
			t.Fatalf("exit %d, stderr %q, stdout %q; want a refusal naming --signing-mode x5c", code, errb.String(), out.String())
		}
	})
}

// TestX5CReplicasShareLeaf: two servers on one Redis in x5c mode share the
// root and, after one of them rotates, sign with the same new leaf.
func TestX5CReplicasShareLeaf(t *testing.T) {
	redisURL := redisConfig(t)
	a := startServer(t, func(c *Config) { redisURL(c); c.SigningMode = "x5c" })
	b := startServer(t, func(c *Config) {
		redisURL(c)
		c.SigningMode, c.SecretFile, c.AdminToken = "x5c", a.cfg.SecretFile, a.AdminToken
	})
	if !bytes.Equal(a.app.signer.RootCertificatePEM(), b.app.signer.RootCertificatePEM()) || a.app.signer.ActiveKID() != b.app.signer.ActiveKID() {
		t.Fatal("replicas started with different roots or leaves")
	}
	before := a.app.signer.ActiveKID()
	if err := a.app.signer.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.app.signer.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if kid := b.app.signer.ActiveKID(); kid == before || kid != a.app.signer.ActiveKID() {
		t.Fatalf("after a's rotation b signs with %s; a with %s, before %s", kid, a.app.signer.ActiveKID(), before)
	}
	a.project(t, a.AdminToken, "tanuki/app", "private")
	d := a.deployToken(t, a.AdminToken, "tanuki/app", map[string]any{"name": "x", "scopes": []string{"read_registry"}})
	r := tokenRequest(t, b, d.Username, d.Token, "repository:tanuki/app:pull")
	var ans struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.Body, &ans); r.Status != http.StatusOK || err != nil {
		t.Fatalf("token from b: %d %s", r.Status, r.Body)
	}
	checkLeafHeader(t, ans.Token, a.app.signer.ActiveKID())
}

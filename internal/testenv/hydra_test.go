package testenv

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestHydra: the pinned Hydra builds, starts, issues JWT access tokens
// with the claims the federation tests rely on, and rotates its key.
func TestHydra(t *testing.T) {
	h := StartHydra(t)
	c := h.CreateClient(t, "system:serviceaccount:ns:name", "deploytokens", time.Minute)
	claims := func(tok string) (map[string]any, map[string]any) {
		t.Helper()
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("not a JWT: %.20q", tok)
		}
		var hdr, pl map[string]any
		for i, v := range []*map[string]any{&hdr, &pl} {
			raw, err := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil || json.Unmarshal(raw, v) != nil {
				t.Fatalf("part %d does not decode", i)
			}
		}
		return hdr, pl
	}
	hdr, pl := claims(c.Token(t, "deploytokens"))
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"alg", hdr["alg"], "RS256"},
		{"iss", pl["iss"], h.Issuer},
		{"sub", pl["sub"], "system:serviceaccount:ns:name"},
		{"aud", pl["aud"], []any{"deploytokens"}},
		// Hydra counts the lifespan from before it stamps iat.
		{"lifetime about a minute", pl["exp"].(float64)-pl["iat"].(float64) >= 55 && pl["exp"].(float64)-pl["iat"].(float64) <= 60, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := json.Marshal(tt.got)
			w, _ := json.Marshal(tt.want)
			if string(g) != string(w) {
				t.Errorf("%s = %s; want %s", tt.name, g, w)
			}
		})
	}
	t.Run("rotation signs with the new key", func(t *testing.T) {
		kid := h.RotateKey(t)
		hdr, _ := claims(c.Token(t, "deploytokens"))
		if hdr["kid"] != kid {
			t.Errorf("kid after rotation = %v; want %s", hdr["kid"], kid)
		}
	})
}

// TestHydraBinary builds the pinned Hydra when bin/tools lacks it; `make
// tools` runs it alone to build ahead of the tests.
func TestHydraBinary(t *testing.T) {
	if bin := HydraBinary(t); !isPinnedHydra(bin) {
		t.Fatalf("%s is not Hydra %s", bin, HydraVersion)
	}
}

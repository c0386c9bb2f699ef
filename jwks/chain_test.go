package jwks_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/deploytokens/deploytokens/jwks"
	"github.com/deploytokens/deploytokens/tokens"
)

// x5cConfig is a ModeX5C manager's config on store.
func x5cConfig(store jwks.KeyStore, c *clock, rotation time.Duration) jwks.Config {
	cfg := storeConfig(store, c)
	cfg.Mode, cfg.KeyRotation = jwks.ModeX5C, rotation
	return cfg
}

// verifyX5C checks raw the way distribution v3.1.2 does when the header
// has x5c (registry/auth/token: VerifySigningKey): the chain must lead to a
// certificate of the rootcertbundle at the registry's time, and the leaf's
// key must verify the signature. The registry's time is the test clock's,
// since the leaves' certificates are dated by it.
func verifyX5C(raw string, bundle []byte, at time.Time) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return errors.New("rootcertbundle holds no certificate")
	}
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA, jose.RS256, jose.ES256})
	if err != nil {
		return fmt.Errorf("malformed token: %w", err)
	}
	chains, err := tok.Headers[0].Certificates(x509.VerifyOptions{
		Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: at,
	})
	if err != nil {
		return fmt.Errorf("unable to verify certificate chain: %w", err)
	}
	var claims josejwt.Claims
	return tok.Claims(chains[0][0].PublicKey.(crypto.PublicKey), &claims)
}

func TestX5CMode(t *testing.T) {
	for _, alg := range []string{jwks.ES256, jwks.RS256, jwks.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			c := newClock()
			cfg := x5cConfig(newMemStore(), c, 720*time.Hour)
			cfg.Alg = alg
			m := newManager(t, cfg)
			bundle := m.RootCertificatePEM()
			if !bytes.Equal(bundle, m.CertificatesPEM()) {
				t.Error("CertificatesPEM is not the root certificate alone")
			}
			roots := parseCerts(t, bundle)
			if len(roots) != 1 || !roots[0].IsCA {
				t.Fatalf("root bundle has %d certificates (CA %v), want one CA", len(roots), len(roots) == 1 && roots[0].IsCA)
			}

			tok := sign(t, m, c)
			h := header(t, tok)
			x5c, _ := h["x5c"].([]any)
			if len(x5c) != 1 {
				t.Fatalf("x5c = %v, want the leaf alone", h["x5c"])
			}
			der, err := base64.StdEncoding.DecodeString(x5c[0].(string))
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if leaf.IsCA || leaf.CheckSignatureFrom(roots[0]) != nil {
				t.Errorf("leaf is a CA (%v) or not issued by the root", leaf.IsCA)
			}
			// A bit more than the rotation period and a token's lifetime.
			if life := leaf.NotAfter.Sub(c.Now()); life < 720*time.Hour+jwks.DefaultMaxTokenLifetime || life > 1000*time.Hour {
				t.Errorf("leaf lasts %s from now, want a bit more than 720h + the token lifetime", life)
			}
			if h["kid"] != m.ActiveKID() || h["alg"] != alg {
				t.Errorf("header %v, want kid %s and alg %s", h, m.ActiveKID(), alg)
			}
			if err := verifyX5C(tok, bundle, c.Now()); err != nil {
				t.Errorf("registry with the root in rootcertbundle refuses the token: %v", err)
			}
			// The reason ModeJWKS stays the default: a registry with only
			// a jwks refuses x5c.
			if err := newRegistryVerifier(t, m.JWKS(), nil).verify(tok); err == nil {
				t.Error("a jwks-only registry accepted an x5c token; ModeX5C could be the default")
			}
		})
	}
}

// TestX5CRotateKeepsRegistry is the point of ModeX5C: the root exported
// once verifies every leaf's tokens, a token of a previous leaf included,
// across rotations.
func TestX5CRotateKeepsRegistry(t *testing.T) {
	c := newClock()
	m := newManager(t, x5cConfig(newMemStore(), c, 720*time.Hour))
	bundle := m.RootCertificatePEM()
	old := sign(t, m, c)
	kids := []string{m.ActiveKID()}
	for i := range 2 {
		c.Advance(time.Minute)
		if err := m.Rotate(context.Background()); err != nil {
			t.Fatalf("rotate %d: %v", i+1, err)
		}
		if slices.Contains(kids, m.ActiveKID()) {
			t.Fatalf("rotate %d: still signing with an earlier leaf %s", i+1, m.ActiveKID())
		}
		kids = append(kids, m.ActiveKID())
		last := sign(t, m, c)
		if err := verifyX5C(last, bundle, c.Now()); err != nil {
			t.Errorf("rotate %d: the new leaf's token is refused: %v", i+1, err)
		}
		if !bytes.Equal(m.RootCertificatePEM(), bundle) {
			t.Fatalf("rotate %d changed the root certificate", i+1)
		}
	}
	if err := verifyX5C(old, bundle, c.Now()); err != nil {
		t.Errorf("a token of the first leaf, not yet expired, is refused after two rotations: %v", err)
	}
	if got := header(t, old)["kid"]; got != kids[0] {
		t.Errorf("old token kid %v, want %s", got, kids[0])
	}
}

// TestX5CScheduledRotation drives KeyRotation with the injected clock.
func TestX5CScheduledRotation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := newManager(t, x5cConfig(newMemStore(), c, 720*time.Hour))
	first := m.ActiveKID()
	steps := []struct {
		name        string
		advance     time.Duration
		wantRotated bool
	}{
		{"fresh leaf", 0, false},
		{"just before the period", 720*time.Hour - time.Second, false},
		{"at the period", time.Second, true},
		{"right after", time.Minute, false},
		{"next period", 720 * time.Hour, true},
	}
	rotations := 0
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			c.Advance(st.advance)
			got, err := m.RotateIfDue(ctx)
			if err != nil || got != st.wantRotated {
				t.Fatalf("RotateIfDue = %v, %v; want %v", got, err, st.wantRotated)
			}
			if got {
				rotations++
			}
		})
	}
	if rotations != 2 || m.ActiveKID() == first {
		t.Errorf("%d rotations, active %s (first %s); want 2 and a new leaf", rotations, m.ActiveKID(), first)
	}

	t.Run("rotation off: the leaf never expires", func(t *testing.T) {
		c := newClock()
		m := newManager(t, x5cConfig(newMemStore(), c, 0))
		c.Advance(10 * 365 * 24 * time.Hour)
		if rotated, err := m.RotateIfDue(ctx); rotated || err != nil {
			t.Fatalf("RotateIfDue with rotation off = %v, %v", rotated, err)
		}
		if err := verifyX5C(sign(t, m, c), m.RootCertificatePEM(), c.Now()); err != nil {
			t.Errorf("after ten years without rotation: %v", err)
		}
	})
}

// TestX5CLeafExpired: when scheduled rotation has failed past the leaf's
// end, Sign says so instead of handing out tokens the registry refuses.
func TestX5CLeafExpired(t *testing.T) {
	c := newClock()
	m := newManager(t, x5cConfig(newMemStore(), c, time.Hour))
	c.Advance(3 * time.Hour) // no Run, no RotateIfDue: rotation "failed"
	_, err := m.Sign(registryClaims(c.Now(), 5*time.Minute))
	if !errors.Is(err, jwks.ErrLeafExpired) {
		t.Fatalf("Sign = %v, want ErrLeafExpired", err)
	}
	if _, err := m.RotateIfDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := verifyX5C(sign(t, m, c), m.RootCertificatePEM(), c.Now()); err != nil {
		t.Errorf("after the late rotation: %v", err)
	}
}

// TestX5CReplicasAgree: replicas on one store agree on the leaf, through
// the compare-and-swap, whoever rotates.
func TestX5CReplicasAgree(t *testing.T) {
	ctx := context.Background()

	t.Run("rotation by one, refresh by the other", func(t *testing.T) {
		c, store := newClock(), newMemStore()
		a := newManager(t, x5cConfig(store, c, 720*time.Hour))
		b := newManager(t, x5cConfig(store, c, 720*time.Hour))
		if a.ActiveKID() != b.ActiveKID() || !bytes.Equal(a.RootCertificatePEM(), b.RootCertificatePEM()) {
			t.Fatal("replicas started with different keys")
		}
		if err := a.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if a.ActiveKID() != b.ActiveKID() {
			t.Errorf("after a's rotation and b's refresh: a signs with %s, b with %s", a.ActiveKID(), b.ActiveKID())
		}
		if err := verifyX5C(sign(t, b, c), a.RootCertificatePEM(), c.Now()); err != nil {
			t.Error(err)
		}
	})

	t.Run("both rotate on schedule at once", func(t *testing.T) {
		for i := range 20 {
			c, store := newClock(), newMemStore()
			ms := []*jwks.Manager{
				newManager(t, x5cConfig(store, c, time.Hour)),
				newManager(t, x5cConfig(store, c, time.Hour)),
			}
			c.Advance(time.Hour)
			var (
				wg      sync.WaitGroup
				rotated [2]bool
				errs    [2]error
			)
			for j, m := range ms {
				wg.Go(func() { rotated[j], errs[j] = m.RotateIfDue(ctx) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("run %d: RotateIfDue errors %v, %v", i, errs[0], errs[1])
			}
			if rotated[0] == rotated[1] {
				t.Fatalf("run %d: rotated %v: want exactly one replica to rotate", i, rotated)
			}
			for _, m := range ms {
				if err := m.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if ms[0].ActiveKID() != ms[1].ActiveKID() {
				t.Fatalf("run %d: replicas sign with %s and %s", i, ms[0].ActiveKID(), ms[1].ActiveKID())
			}
			if n := len(store.storedKIDsAt(t, jwks.DefaultChainStoreKey)); n != 2 {
				t.Fatalf("run %d: %d leaves stored, want the first and one new", i, n)
			}
		}
	})

	t.Run("the other replica wins between read and swap", func(t *testing.T) {
		c := newClock()
		hs := &hookStore{memStore: newMemStore()}
		a := newManager(t, x5cConfig(hs, c, time.Hour))
		b := newManager(t, x5cConfig(hs.memStore, c, time.Hour))
		c.Advance(time.Hour)
		hs.beforeCAS = func() {
			if rotated, err := b.RotateIfDue(ctx); !rotated || err != nil {
				t.Errorf("b RotateIfDue = %v, %v", rotated, err)
			}
		}
		if rotated, err := a.RotateIfDue(ctx); rotated || err != nil {
			t.Fatalf("a RotateIfDue = %v, %v; want false, nil (b rotated)", rotated, err)
		}
		if a.ActiveKID() != b.ActiveKID() {
			t.Errorf("a signs with %s, b with %s", a.ActiveKID(), b.ActiveKID())
		}
	})
}

func TestX5CSealedAndSeparate(t *testing.T) {
	keys, err := tokens.NewKeys(bytes.Repeat([]byte("s"), tokens.MinServerSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	c, store := newClock(), newMemStore()
	plain := newManager(t, storeConfig(store, c))
	cfg := x5cConfig(store, c, time.Hour)
	cfg.Sealer = keys
	m := newManager(t, cfg)
	stored := store.m[jwks.DefaultChainStoreKey]
	if len(stored) == 0 {
		t.Fatal("nothing stored under DefaultChainStoreKey")
	}
	if bytes.Contains(stored, []byte("PRIVATE KEY")) {
		t.Error("the stored chain holds a private key in the clear")
	}
	if plain.ActiveKID() == m.ActiveKID() {
		t.Error("ModeX5C signs with the ModeJWKS key")
	}
	again := newManager(t, cfg)
	if again.ActiveKID() != m.ActiveKID() || !bytes.Equal(again.RootCertificatePEM(), m.RootCertificatePEM()) {
		t.Error("a second manager did not load the stored root and leaf")
	}
	if plain.RootCertificatePEM() != nil {
		t.Error("ModeJWKS answers a root certificate")
	}
}

func TestX5CConfigValidate(t *testing.T) {
	store := newMemStore()
	tests := []struct {
		name string
		cfg  jwks.Config
		want []string
	}{
		{"x5c", jwks.Config{Store: store, IsNotFound: isNotFound, Mode: jwks.ModeX5C, KeyRotation: time.Hour}, nil},
		{"unknown mode", jwks.Config{Store: store, IsNotFound: isNotFound, Mode: "chain"}, []string{"Mode"}},
		{"x5c with a key file", jwks.Config{KeyFile: "key.pem", Mode: jwks.ModeX5C}, []string{"KeyFile"}},
		{"x5c with a lead", jwks.Config{Store: store, IsNotFound: isNotFound, Mode: jwks.ModeX5C, RotationLead: time.Minute}, []string{"RotationLead"}},
		{"schedule in jwks mode", jwks.Config{Store: store, IsNotFound: isNotFound, KeyRotation: time.Hour}, []string{"KeyRotation"}},
		{"negative rotation", jwks.Config{Store: store, IsNotFound: isNotFound, Mode: jwks.ModeX5C, KeyRotation: -time.Hour}, []string{"KeyRotation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != (len(tt.want) > 0) {
				t.Fatalf("Validate = %v, want problems with %v", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %v, does not name %s", err, w)
				}
			}
		})
	}
}

// TestX5CRunRotates: Run rotates on schedule; with two replicas running,
// the leaf is replaced once and both sign with the new one.
func TestX5CRunRotates(t *testing.T) {
	c, store := newClock(), newMemStore()
	var ms []*jwks.Manager
	for range 2 {
		cfg := x5cConfig(store, c, time.Hour)
		cfg.RefreshInterval = time.Millisecond
		ms = append(ms, newManager(t, cfg))
	}
	first := ms[0].ActiveKID()
	c.Advance(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { _ = m.Run(ctx) })
	}
	// Poll for the outcome; the bound only keeps a broken Run from
	// hanging the suite.
	for deadline := time.Now().Add(30 * time.Second); ms[0].ActiveKID() == first || ms[1].ActiveKID() != ms[0].ActiveKID(); {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not rotate, or the replicas disagree: %s, %s (first %s)", ms[0].ActiveKID(), ms[1].ActiveKID(), first)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	if kids := store.storedKIDsAt(t, jwks.DefaultChainStoreKey); len(kids) != 2 {
		t.Errorf("stored leaves %v: want the first and exactly one new", kids)
	}
}

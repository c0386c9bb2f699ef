package jwks_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/deploytokens/deploytokens/jwks"
)

// TestRegistryV3 checks which exports and header forms distribution v3
// accepts, through registryVerifier.
func TestRegistryV3(t *testing.T) {
	type mode struct {
		name           string
		jwks, bundle   bool
		x5c            bool
		wantThumbprint bool // whether a thumbprint kid is accepted
		wantLibtrust   bool // whether a libtrust kid is accepted
	}
	modes := []mode{
		{name: "jwks", jwks: true, wantThumbprint: true, wantLibtrust: true},
		{name: "rootcertbundle", bundle: true, wantThumbprint: true, wantLibtrust: false},
		{name: "rootcertbundle+jwks", jwks: true, bundle: true, wantThumbprint: true, wantLibtrust: true},
		{name: "rootcertbundle/x5c", bundle: true, x5c: true, wantThumbprint: true, wantLibtrust: true},
		// x5c needs roots: with a JWKS alone the registry refuses it.
		{name: "jwks/x5c", jwks: true, x5c: true, wantThumbprint: false, wantLibtrust: false},
	}
	for _, alg := range []string{jwks.ES256, jwks.RS256, jwks.EdDSA} {
		for _, format := range []string{jwks.KidThumbprint, jwks.KidLibtrust} {
			store, c := newMemStore(), newClock()
			for _, md := range modes {
				t.Run(alg+"/"+format+"/"+md.name, func(t *testing.T) {
					cfg := storeConfig(store, c)
					cfg.Alg, cfg.KidFormat, cfg.X5C = alg, format, md.x5c
					m := newManager(t, cfg)
					var doc, bundle []byte
					if md.jwks {
						doc = m.JWKS()
					}
					if md.bundle {
						bundle = m.CertificatesPEM()
					}
					want := md.wantThumbprint
					if format == jwks.KidLibtrust {
						want = md.wantLibtrust
					}
					err := newRegistryVerifier(t, doc, bundle).verify(sign(t, m, c))
					if (err == nil) != want {
						t.Errorf("registry verify error = %v, want accepted %v", err, want)
					}
				})
			}
		}
	}
}

// TestManyECKeysRegistryKID checks, over many keys, that the kid we send is
// the one distribution v3 computes from the certificate in its
// rootcertbundle, so tokens verify without x5c.
func TestManyECKeysRegistryKID(t *testing.T) {
	c := newClock()
	for range 200 {
		m := newManager(t, storeConfig(newMemStore(), c))
		certs := parseCerts(t, m.CertificatesPEM())
		if want := registryThumbprint(certs[0].PublicKey); m.ActiveKID() != want {
			t.Fatalf("kid %s, distribution computes %s", m.ActiveKID(), want)
		}
		if err := newRegistryVerifier(t, nil, m.CertificatesPEM()).verify(sign(t, m, c)); err != nil {
			t.Fatalf("registry with rootcertbundle refuses kid %s: %v", m.ActiveKID(), err)
		}
	}
}

// TestKeyFileShortCoordinate takes a P-256 key whose coordinate starts with
// a zero byte, where distribution's thumbprint and RFC 7638's differ: the
// kid follows distribution, and both of its modes accept the token.
func TestKeyFileShortCoordinate(t *testing.T) {
	var key *ecdsa.PrivateKey
	for range 100000 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		point, err := k.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if point[1] == 0 || point[33] == 0 {
			key = k
			break
		}
	}
	if key == nil {
		t.Fatal("no P-256 key with a short coordinate in 100000")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	m := newManager(t, jwks.Config{KeyFile: writeFile(t, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), Now: c.Now})

	rfc, err := jwks.Thumbprint(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	reg := registryThumbprint(&key.PublicKey)
	if rfc == reg {
		t.Fatal("the thumbprints agree: the key does not exercise the difference")
	}
	if m.ActiveKID() != reg {
		t.Errorf("kid = %s, want distribution's %s (RFC 7638 gives %s)", m.ActiveKID(), reg, rfc)
	}
	tok := sign(t, m, c)
	tests := []struct {
		name        string
		doc, bundle []byte
	}{
		{"jwks", m.JWKS(), nil},
		{"rootcertbundle", nil, m.CertificatesPEM()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := newRegistryVerifier(t, tt.doc, tt.bundle).verify(tok); err != nil {
				t.Errorf("registry refuses the token: %v", err)
			}
		})
	}
}

package jwks_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/jwks"
)

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rfc7638Key is the RSA key of RFC 7638 section 3.1.
func rfc7638Key(t *testing.T) *rsa.PublicKey {
	n := mustB64(t, "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
}

// rfc7515ECKey is the P-256 key of RFC 7515 appendix A.3.
func rfc7515ECKey(t *testing.T) *ecdsa.PublicKey {
	point := append([]byte{4}, mustB64(t, "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")...)
	point = append(point, mustB64(t, "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")...)
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rfc8032Key is the Ed25519 public key of RFC 8032 section 7.1, test 1
// (also RFC 8037 appendix A).
func rfc8032Key(t *testing.T) ed25519.PublicKey {
	b, err := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.PublicKey(b)
}

func TestThumbprintVectors(t *testing.T) {
	tests := []struct {
		name string
		key  func(*testing.T) crypto.PublicKey
		want string
	}{
		// The expected values are the ones the RFCs print.
		{"RFC 7638 3.1 RSA", func(t *testing.T) crypto.PublicKey { return rfc7638Key(t) }, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"RFC 8037 A.3 Ed25519", func(t *testing.T) crypto.PublicKey { return rfc8032Key(t) }, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
		// Computed with sha256sum and basenc over the members text.
		{"RFC 7515 A.3 P-256", func(t *testing.T) crypto.PublicKey { return rfc7515ECKey(t) }, "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jwks.Thumbprint(tt.key(t))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Thumbprint = %s, want %s", got, tt.want)
			}
		})
	}
}

// libtrustKeyID computes a libtrust key ID again from its definition, bit
// by bit: SHA-256 of the PKIX DER, its first 240 bits in RFC 4648 base32,
// twelve groups of four joined by colons.
func libtrustKeyID(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var sb strings.Builder
	for i := 0; i < 240; i += 5 {
		v := 0
		for j := i; j < i+5; j++ {
			v = v<<1 | int(sum[j/8]>>(7-j%8)&1)
		}
		if i > 0 && i%20 == 0 {
			sb.WriteByte(':')
		}
		sb.WriteByte(alphabet[v])
	}
	return sb.String()
}

var libtrustShape = regexp.MustCompile(`^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$`)

func TestLibtrustKeyID(t *testing.T) {
	tests := []struct {
		name string
		key  func(*testing.T) crypto.PublicKey
		want string // computed with sha256sum, xxd and base32 over the DER
	}{
		{"RFC 8032 Ed25519", func(t *testing.T) crypto.PublicKey { return rfc8032Key(t) }, "A3R7:3D62:FG5W:BK2Z:KV66:MHW3:BLWN:WIYR:GS7D:BZ23:IVPY:4G3Z"},
		{"RFC 7515 P-256", func(t *testing.T) crypto.PublicKey { return rfc7515ECKey(t) }, "FPI3:WDCE:VCL4:GCT2:UCMR:ZXRY:3ADC:7ZCB:3ZIN:UD2G:QJJU:J5QC"},
		{"RFC 7638 RSA", func(t *testing.T) crypto.PublicKey { return rfc7638Key(t) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := tt.key(t)
			got, err := jwks.LibtrustKeyID(pub)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("LibtrustKeyID = %s, want %s", got, tt.want)
			}
			if again := libtrustKeyID(t, pub); got != again {
				t.Errorf("LibtrustKeyID = %s, the definition gives %s", got, again)
			}
			if !libtrustShape.MatchString(got) {
				t.Errorf("LibtrustKeyID = %s, not twelve groups of four base32 characters", got)
			}
		})
	}
}

func TestThumbprintRefusesOtherKeys(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  crypto.PublicKey
	}{
		{"P-384", &p384.PublicKey},
		{"string", "not a key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := jwks.Thumbprint(tt.key); !errors.Is(err, jwks.ErrUnsupportedKey) {
				t.Errorf("Thumbprint error = %v, want ErrUnsupportedKey", err)
			}
		})
	}
}

// TestGeneratedECKeysHaveFullCoordinates checks that generated P-256 keys
// never have a coordinate with a leading zero byte, where distribution's
// thumbprint differs from RFC 7638's. One key in 128 has one, so without
// the redraw 1000 keys miss it with probability below 0.1%.
func TestGeneratedECKeysHaveFullCoordinates(t *testing.T) {
	for i := range 1000 {
		data, err := jwks.GenerateKeyPEM(jwks.ES256, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		k, cert := parseKeyPEM(t, data)
		pub := k.Public().(*ecdsa.PublicKey)
		point, err := pub.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if point[1] == 0 || point[33] == 0 {
			t.Fatalf("key %d has a coordinate with a leading zero byte: %x", i, point)
		}
		rfc, err := jwks.Thumbprint(pub)
		if err != nil {
			t.Fatal(err)
		}
		if reg := registryThumbprint(cert.PublicKey); rfc != reg {
			t.Fatalf("key %d: RFC 7638 thumbprint %s, distribution's %s", i, rfc, reg)
		}
	}
}

// pkcs8PEM answers k as the PEM a key file holds.
func pkcs8PEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TestJWKSMembers checks the members of a published key, which are what a
// registry reads from the JWKS, against the JWKs the RFCs print for their
// example keys.
func TestJWKSMembers(t *testing.T) {
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), mustB64(t, "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"))
	if err != nil {
		t.Fatal(err)
	}
	ed := ed25519.NewKeyFromSeed(mustB64(t, "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"))
	// RFC 7638's RSA key comes without its private half: a generated one
	// checks the encoding of n and e.
	rs, err := rsa.GenerateKey(rand.Reader, jwks.MinRSABits)
	if err != nil {
		t.Fatal(err)
	}
	rsKid, err := jwks.Thumbprint(&rs.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecMembers := map[string]string{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
		"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
		"y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
	}
	edMembers := map[string]string{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
		"x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
	}
	with := func(m map[string]string, kid string) map[string]string {
		m = maps.Clone(m)
		m["kid"] = kid
		return m
	}
	tests := []struct {
		name   string
		key    crypto.Signer
		format string
		want   map[string]string
	}{
		// RFC 7515 A.3 and RFC 8037 A.1, A.2, A.3.
		{"P-256 thumbprint", ec, jwks.KidThumbprint, with(ecMembers, "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U")},
		{"P-256 libtrust", ec, jwks.KidLibtrust, with(ecMembers, "FPI3:WDCE:VCL4:GCT2:UCMR:ZXRY:3ADC:7ZCB:3ZIN:UD2G:QJJU:J5QC")},
		{"Ed25519 thumbprint", ed, jwks.KidThumbprint, with(edMembers, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")},
		{"Ed25519 libtrust", ed, jwks.KidLibtrust, with(edMembers, "A3R7:3D62:FG5W:BK2Z:KV66:MHW3:BLWN:WIYR:GS7D:BZ23:IVPY:4G3Z")},
		{"RSA thumbprint", rs, jwks.KidThumbprint, map[string]string{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": rsKid,
			"n": base64.RawURLEncoding.EncodeToString(rs.N.Bytes()), "e": "AQAB",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := jwks.New(context.Background(), jwks.Config{KeyFile: writeFile(t, pkcs8PEM(t, tt.key)), KidFormat: tt.format})
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(m.JWKS(), &doc); err != nil {
				t.Fatalf("JWKS %s: %v", m.JWKS(), err)
			}
			if len(doc.Keys) != 1 || !maps.Equal(doc.Keys[0], tt.want) {
				t.Errorf("JWKS = %s, want one key with members %v", m.JWKS(), tt.want)
			}
		})
	}
}

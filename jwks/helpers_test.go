package jwks_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"

	"github.com/deploytokens/deploytokens/jwks"
)

var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("conflict")
)

func isNotFound(err error) bool { return errors.Is(err, errNotFound) }

// memStore is a KeyStore over a map. Unit tests of the key logic use it;
// the store itself is tested against redis-server by its own conformance
// suite.
type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, errNotFound)
	}
	return bytes.Clone(v), nil
}

func (s *memStore) CompareAndSwap(_ context.Context, key string, old, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[key]
	if (old == nil && ok) || (old != nil && (!ok || !bytes.Equal(cur, old))) {
		return fmt.Errorf("compare and swap %s: %w", key, errConflict)
	}
	s.m[key] = bytes.Clone(value)
	return nil
}

// storedKIDs answers the kids in the stored set, in stored order.
func (s *memStore) storedKIDs(t *testing.T) []string {
	t.Helper()
	return s.storedKIDsAt(t, jwks.DefaultStoreKey)
}

// storedKIDsAt answers the kids in the set stored under key.
func (s *memStore) storedKIDsAt(t *testing.T, key string) []string {
	t.Helper()
	raw, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

// hookStore runs beforeCAS once, before the next compare-and-swap: a
// replica acting between this one's read and write.
type hookStore struct {
	*memStore
	beforeCAS func()
}

func (s *hookStore) CompareAndSwap(ctx context.Context, key string, old, value []byte) error {
	if f := s.beforeCAS; f != nil {
		s.beforeCAS = nil
		f()
	}
	return s.memStore.CompareAndSwap(ctx, key, old, value)
}

// clock is an injected clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func storeConfig(s jwks.KeyStore, c *clock) jwks.Config {
	return jwks.Config{Store: s, IsNotFound: isNotFound, Now: c.Now}
}

func newManager(t testing.TB, cfg jwks.Config) *jwks.Manager {
	t.Helper()
	m, err := jwks.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// registryClaims are the claims of a registry token valid for life from now.
func registryClaims(now time.Time, life time.Duration) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Issuer:    "deploytokens",
		Subject:   "gitlab+deploy-token-1",
		Audience:  jwt.ClaimStrings{"container_registry"},
		ExpiresAt: jwt.NewNumericDate(now.Add(life)),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        "jti-1",
	}
}

func sign(t *testing.T, m *jwks.Manager, c *clock) string {
	t.Helper()
	tok, err := m.Sign(registryClaims(c.Now(), 5*time.Minute))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// parseJWKS reads a JWKS with go-jose, the library distribution v3 reads it
// with, so a set it refuses fails here too.
func parseJWKS(t *testing.T, doc []byte) jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("go-jose refuses the JWKS: %v\n%s", err, doc)
	}
	return set
}

// verifyWithJWKS checks tok with golang-jwt against the keys of doc.
func verifyWithJWKS(t *testing.T, tok string, doc []byte, c *clock) (*jwt.Token, error) {
	t.Helper()
	set := parseJWKS(t, doc)
	keyfunc := func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		keys := set.Key(kid)
		if len(keys) != 1 {
			return nil, fmt.Errorf("kid %q has %d keys in the JWKS", kid, len(keys))
		}
		if keys[0].Algorithm != tk.Method.Alg() {
			return nil, fmt.Errorf("kid %q is for %s, token says %s", kid, keys[0].Algorithm, tk.Method.Alg())
		}
		return keys[0].Key, nil
	}
	return jwt.Parse(tok, keyfunc,
		jwt.WithValidMethods([]string{jwks.ES256, jwks.RS256, jwks.EdDSA}),
		jwt.WithTimeFunc(c.Now),
		jwt.WithIssuer("deploytokens"),
		jwt.WithAudience("container_registry"),
		jwt.WithExpirationRequired())
}

// header answers the decoded JOSE header of tok.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Header
}

// parseKeyPEM answers the private key and certificate GenerateKeyPEM wrote.
func parseKeyPEM(t *testing.T, data []byte) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	var (
		key  crypto.Signer
		cert *x509.Certificate
	)
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			key = k.(crypto.Signer)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			cert = c
		}
	}
	if key == nil || cert == nil {
		t.Fatal("PEM lacks the key or the certificate")
	}
	return key, cert
}

func parseCerts(t *testing.T, bundle []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, bundle = pem.Decode(bundle)
		if b == nil {
			return certs
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
}

// registryVerifier finds and checks a token's key the way distribution
// v3.1.2 does (registry/auth/token: newAccessController, VerifySigningKey):
// certificates of the rootcertbundle become roots and trusted keys under
// the registry's own thumbprint of their key; JWKS keys are trusted under
// their kid as written; an x5c header must chain to the roots, else the kid
// names a trusted key.
type registryVerifier struct {
	roots   *x509.CertPool
	trusted map[string]crypto.PublicKey
}

func newRegistryVerifier(t *testing.T, doc, bundle []byte) *registryVerifier {
	t.Helper()
	v := &registryVerifier{roots: x509.NewCertPool(), trusted: map[string]crypto.PublicKey{}}
	for _, c := range parseCerts(t, bundle) {
		v.roots.AddCert(c)
		if kid := registryThumbprint(c.PublicKey); kid != "" {
			v.trusted[kid] = c.PublicKey
		}
	}
	if doc != nil {
		for _, k := range parseJWKS(t, doc).Keys {
			v.trusted[k.KeyID] = k.Public().Key
		}
	}
	return v
}

func (v *registryVerifier) verify(raw string) error {
	algs := []jose.SignatureAlgorithm{jose.EdDSA, jose.RS256, jose.ES256}
	tok, err := josejwt.ParseSigned(raw, algs)
	if err != nil {
		return fmt.Errorf("malformed token: %w", err)
	}
	h := tok.Headers[0]
	var key crypto.PublicKey
	chains, err := h.Certificates(x509.VerifyOptions{Roots: v.roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	switch {
	case err == nil:
		key = chains[0][0].PublicKey
	case errors.Is(err, jose.ErrMissingX5cHeader):
		k, ok := v.trusted[h.KeyID]
		if !ok {
			return fmt.Errorf("token signed by untrusted key with ID: %q", h.KeyID)
		}
		key = k
	default:
		return err
	}
	var claims josejwt.Claims
	return tok.Claims(key, &claims)
}

// registryThumbprint is distribution v3.1.2's GetJWKThumbprint, written
// again from its definition there: members in RFC 7638 order, but EC
// coordinates as big.Int.Bytes gives them, without leading zero bytes.
func registryThumbprint(pub crypto.PublicKey) string {
	var members string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		members = fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`,
			b64(big.NewInt(int64(k.E)).Bytes()), b64(k.N.Bytes()))
	case *ecdsa.PublicKey:
		point, err := k.Bytes()
		if err != nil {
			return ""
		}
		x := new(big.Int).SetBytes(point[1:33])
		y := new(big.Int).SetBytes(point[33:])
		members = fmt.Sprintf(`{"crv":"%s","kty":"EC","x":"%s","y":"%s"}`,
			k.Params().Name, b64(x.Bytes()), b64(y.Bytes()))
	case ed25519.PublicKey:
		members = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":"%s"}`, b64(k))
	default:
		return ""
	}
	sum := sha256.Sum256([]byte(members))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

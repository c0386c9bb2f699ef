package jwks_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/deploytokens/deploytokens/jwks"
	"github.com/deploytokens/deploytokens/tokens"
)

func TestSignVerify(t *testing.T) {
	for _, alg := range []string{jwks.ES256, jwks.RS256, jwks.EdDSA} {
		for _, format := range []string{jwks.KidThumbprint, jwks.KidLibtrust} {
			// Both managers of a (alg, format) pair share a store and so
			// a key: one key is generated per pair.
			store, c := newMemStore(), newClock()
			for _, x5c := range []bool{false, true} {
				name := alg + "/" + format
				if x5c {
					name += "/x5c"
				}
				t.Run(name, func(t *testing.T) {
					cfg := storeConfig(store, c)
					cfg.Alg, cfg.KidFormat, cfg.X5C = alg, format, x5c
					m := newManager(t, cfg)
					tok := sign(t, m, c)

					parsed, err := verifyWithJWKS(t, tok, m.JWKS(), c)
					if err != nil {
						t.Fatalf("verify with the JWKS: %v", err)
					}
					claims := parsed.Claims.(jwt.MapClaims)
					if claims["sub"] != "gitlab+deploy-token-1" {
						t.Errorf("sub = %v", claims["sub"])
					}

					h := header(t, tok)
					if h["alg"] != alg || h["typ"] != "JWT" || h["kid"] != m.ActiveKID() {
						t.Errorf("header = %v, want alg %s, typ JWT, kid %s", h, alg, m.ActiveKID())
					}
					certs := parseCerts(t, m.CertificatesPEM())
					if len(certs) != 1 {
						t.Fatalf("CertificatesPEM has %d certificates, want 1", len(certs))
					}
					checkKID(t, format, m.ActiveKID(), certs[0])
					x5cHeader, ok := h["x5c"].([]any)
					switch {
					case !x5c && ok:
						t.Errorf("x5c header sent without X5C: %v", x5cHeader)
					case x5c && (len(x5cHeader) != 1 || x5cHeader[0] != base64.StdEncoding.EncodeToString(certs[0].Raw)):
						t.Errorf("x5c header = %v, want the one certificate", h["x5c"])
					}
					checkPublicJWKS(t, m.JWKS(), alg)
				})
			}
		}
	}
}

// checkKID checks that kid is the key ID of cert's key in format.
func checkKID(t *testing.T, format, kid string, cert *x509.Certificate) {
	t.Helper()
	var want string
	if format == jwks.KidLibtrust {
		want = libtrustKeyID(t, cert.PublicKey)
	} else {
		var err error
		if want, err = jwks.Thumbprint(cert.PublicKey); err != nil {
			t.Fatal(err)
		}
	}
	if kid != want {
		t.Errorf("kid = %s, want %s of the certificate's key %s", kid, format, want)
	}
}

// checkPublicJWKS checks that every key of doc is public and fully labeled.
func checkPublicJWKS(t *testing.T, doc []byte, alg string) {
	t.Helper()
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range raw.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS key has private member %q: %v", private, k)
			}
		}
		if k["use"] != "sig" || k["alg"] != alg || k["kid"] == "" {
			t.Errorf("JWKS key = %v, want use sig, alg %s and a kid", k, alg)
		}
	}
	for _, k := range parseJWKS(t, doc).Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Errorf("go-jose: key %s is not a valid public key", k.KeyID)
		}
	}
}

func TestSignLifetime(t *testing.T) {
	c := newClock()
	cfg := storeConfig(newMemStore(), c)
	cfg.MaxTokenLifetime = 10 * time.Minute
	m := newManager(t, cfg)
	now := c.Now()
	noExpiry := registryClaims(now, time.Minute)
	noExpiry.ExpiresAt = nil
	tests := []struct {
		name    string
		claims  jwt.Claims
		wantErr error
	}{
		{"within", registryClaims(now, 10*time.Minute), nil},
		{"beyond", registryClaims(now, 10*time.Minute+time.Second), jwks.ErrTokenLifetime},
		{"no expiry", noExpiry, jwks.ErrTokenLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Sign(tt.claims)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Sign error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	c := newClock()
	store := newMemStore()
	cfg := storeConfig(store, c)
	cfg.MaxTokenLifetime = 15 * time.Minute
	cfg.RefreshInterval = 10 * time.Second
	m := newManager(t, cfg)

	first := m.ActiveKID()
	oldToken := sign(t, m, c)
	c.Advance(time.Minute)
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	second := m.ActiveKID()
	if second == first {
		t.Fatal("Rotate kept the active kid")
	}
	if kid := header(t, sign(t, m, c))["kid"]; kid != second {
		t.Errorf("token after rotation has kid %v, want %s", kid, second)
	}
	published := func() []string {
		var kids []string
		for _, k := range parseJWKS(t, m.JWKS()).Keys {
			kids = append(kids, k.KeyID)
		}
		return kids
	}
	if got := published(); !slices.Equal(got, []string{first, second}) {
		t.Fatalf("JWKS kids = %v, want %v", got, []string{first, second})
	}
	if _, err := verifyWithJWKS(t, oldToken, m.JWKS(), c); err != nil {
		t.Errorf("token of the retired key no longer verifies: %v", err)
	}
	infos := m.Keys()
	if len(infos) != 2 || infos[0].Active || !infos[1].Active || !infos[0].RetireAfter.Equal(c.Now()) {
		t.Errorf("Keys = %+v, want the first retired now and the second active", infos)
	}

	tests := []struct {
		name    string
		advance time.Duration // from the rotation
		want    []string
	}{
		{"within the last token's lifetime", 15 * time.Minute, []string{first, second}},
		{"within a refresh after it", 15*time.Minute + 10*time.Second, []string{first, second}},
		{"after", 15*time.Minute + 11*time.Second, []string{second}},
	}
	rotatedAt := c.Now()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Advance(rotatedAt.Add(tt.advance).Sub(c.Now()))
			if err := m.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := published(); !slices.Equal(got, tt.want) {
				t.Errorf("JWKS kids = %v, want %v", got, tt.want)
			}
			if got := len(parseCerts(t, m.CertificatesPEM())); got != len(tt.want) {
				t.Errorf("CertificatesPEM has %d certificates, want %d", got, len(tt.want))
			}
		})
	}

	// A refresh unpublishes; the next rotation drops the key from the store.
	if got := store.storedKIDs(t); !slices.Equal(got, []string{first, second}) {
		t.Errorf("stored kids before the next rotation = %v", got)
	}
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := store.storedKIDs(t); len(got) != 2 || got[0] != second || got[1] != m.ActiveKID() {
		t.Errorf("stored kids after the next rotation = %v, want [%s %s]", got, second, m.ActiveKID())
	}
}

func TestRotationLead(t *testing.T) {
	c := newClock()
	cfg := storeConfig(newMemStore(), c)
	cfg.RotationLead = time.Hour
	m := newManager(t, cfg)
	first := m.ActiveKID()
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(parseJWKS(t, m.JWKS()).Keys); got != 2 {
		t.Fatalf("JWKS has %d keys, want the next one published too", got)
	}
	next := m.Keys()[1].KID
	// A second rotation while the first one's key waits would retire that
	// key before it ever signed.
	if err := m.Rotate(context.Background()); !errors.Is(err, jwks.ErrRotationPending) {
		t.Fatalf("Rotate during the lead = %v; want ErrRotationPending", err)
	}

	tests := []struct {
		name    string
		advance time.Duration
		want    string
	}{
		{"before the lead", time.Hour - time.Second, first},
		{"at the lead", time.Second, next},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Advance(tt.advance)
			// No refresh: the switch follows the clock alone, so every
			// replica makes it at once.
			if got := m.ActiveKID(); got != tt.want {
				t.Errorf("ActiveKID = %s, want %s", got, tt.want)
			}
			if got := header(t, sign(t, m, c))["kid"]; got != tt.want {
				t.Errorf("token kid = %v, want %s", got, tt.want)
			}
		})
	}
	// Once it signs, the next rotation may start.
	if err := m.Rotate(context.Background()); err != nil {
		t.Errorf("Rotate after the lead: %v", err)
	}
}

func TestReplicasConverge(t *testing.T) {
	c := newClock()
	store := newMemStore()
	a := newManager(t, storeConfig(store, c))
	b := newManager(t, storeConfig(store, c))
	if a.ActiveKID() != b.ActiveKID() || !bytes.Equal(a.JWKS(), b.JWKS()) || !bytes.Equal(a.CertificatesPEM(), b.CertificatesPEM()) {
		t.Fatalf("replicas disagree: %s and %s", a.ActiveKID(), b.ActiveKID())
	}

	if err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.ActiveKID() == b.ActiveKID() {
		t.Fatal("b saw the rotation without a refresh: does Sign read the store?")
	}
	// b's tokens, signed with the retired key, verify with a's new set.
	if _, err := verifyWithJWKS(t, sign(t, b, c), a.JWKS(), c); err != nil {
		t.Errorf("b's token against a's JWKS: %v", err)
	}
	if err := b.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.ActiveKID() != b.ActiveKID() || !bytes.Equal(a.JWKS(), b.JWKS()) {
		t.Errorf("after refresh: a signs with %s, b with %s", a.ActiveKID(), b.ActiveKID())
	}
}

func TestRunRefreshes(t *testing.T) {
	c := newClock()
	store := newMemStore()
	a := newManager(t, storeConfig(store, c))
	cfg := storeConfig(store, c)
	cfg.RefreshInterval = time.Millisecond
	b := newManager(t, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	if err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Poll for the outcome; the bound only keeps a broken Run from
	// hanging the suite.
	for deadline := time.Now().Add(30 * time.Second); b.ActiveKID() != a.ActiveKID(); {
		if time.Now().After(deadline) {
			t.Fatal("Run never picked up the rotation")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil once ctx is done", err)
	}
}

func TestConcurrentFirstStart(t *testing.T) {
	c := newClock()
	store := newMemStore()
	const replicas = 8
	kids := make([]string, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			m, err := jwks.New(context.Background(), storeConfig(store, c))
			if err != nil {
				t.Errorf("New: %v", err)
				return
			}
			kids[i] = m.ActiveKID()
		})
	}
	wg.Wait()
	stored := store.storedKIDs(t)
	if len(stored) != 1 {
		t.Fatalf("stored kids = %v, want one", stored)
	}
	for i, kid := range kids {
		if kid != stored[0] {
			t.Errorf("replica %d signs with %s, the stored key is %s", i, kid, stored[0])
		}
	}
}

func TestRotateConflict(t *testing.T) {
	c := newClock()
	mem := newMemStore()
	store := &hookStore{memStore: mem}
	a := newManager(t, storeConfig(mem, c))
	b := newManager(t, storeConfig(store, c))

	// a rotates between b's read and b's swap.
	store.beforeCAS = func() {
		if err := a.Rotate(context.Background()); err != nil {
			t.Errorf("a.Rotate: %v", err)
		}
	}
	if err := b.Rotate(context.Background()); !errors.Is(err, jwks.ErrKeySetChanged) {
		t.Fatalf("b.Rotate error = %v, want ErrKeySetChanged", err)
	}
	if b.ActiveKID() != a.ActiveKID() {
		t.Errorf("b signs with %s, a's rotation made %s active", b.ActiveKID(), a.ActiveKID())
	}
	if got := mem.storedKIDs(t); len(got) != 2 {
		t.Errorf("stored kids = %v, want two (one rotation)", got)
	}
}

type failingStore struct{ err error }

func (s failingStore) Get(context.Context, string) ([]byte, error) { return nil, s.err }
func (s failingStore) CompareAndSwap(context.Context, string, []byte, []byte) error {
	return s.err
}

func TestStoreErrors(t *testing.T) {
	boom := errors.New("connection refused")
	malformed := newMemStore()
	malformed.m[jwks.DefaultStoreKey] = []byte(`{"version":1,"keys":[]}`)
	wrongKID := newMemStore()
	newManager(t, storeConfig(wrongKID, newClock()))
	wrongKID.m[jwks.DefaultStoreKey] = bytes.Replace(wrongKID.m[jwks.DefaultStoreKey], []byte(`"kid":"`), []byte(`"kid":"x`), 1)

	tests := []struct {
		name    string
		store   jwks.KeyStore
		wantErr error
		wantMsg string
	}{
		{"unreachable", failingStore{boom}, boom, "read key set"},
		{"empty set", malformed, nil, "stored key set is empty"},
		{"kid of another key", wrongKID, nil, "kid is not a key ID of its key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jwks.New(context.Background(), storeConfig(tt.store, newClock()))
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("New error = %v, want %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

func TestSealer(t *testing.T) {
	keys, err := tokens.NewKeys(bytes.Repeat([]byte("s"), tokens.MinServerSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	other, err := tokens.NewKeys(bytes.Repeat([]byte("o"), tokens.MinServerSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	store := newMemStore()
	cfg := storeConfig(store, c)
	cfg.Sealer = keys
	m := newManager(t, cfg)
	if bytes.Contains(store.m[jwks.DefaultStoreKey], []byte("PRIVATE KEY")) {
		t.Fatal("the stored set holds a private key in the clear")
	}

	tests := []struct {
		name    string
		sealer  jwks.Sealer
		wantErr bool
	}{
		{"same secret", keys, false},
		{"other secret", other, true},
		{"no sealer", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := storeConfig(store, c)
			cfg.Sealer = tt.sealer
			got, err := jwks.New(context.Background(), cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got.ActiveKID() != m.ActiveKID() {
				t.Errorf("ActiveKID = %s, want %s", got.ActiveKID(), m.ActiveKID())
			}
		})
	}
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeyFile(t *testing.T) {
	for _, alg := range []string{jwks.ES256, jwks.RS256, jwks.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			c := newClock()
			data, err := jwks.GenerateKeyPEM(alg, c.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, cert := parseKeyPEM(t, data)
			m := newManager(t, jwks.Config{KeyFile: writeFile(t, data), Now: c.Now, X5C: true})
			if _, err := verifyWithJWKS(t, sign(t, m, c), m.JWKS(), c); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got := parseCerts(t, m.CertificatesPEM()); len(got) != 1 || !got[0].Equal(cert) {
				t.Error("CertificatesPEM is not the certificate of the key file")
			}
			checkKID(t, jwks.KidThumbprint, m.ActiveKID(), cert)
			if err := m.Rotate(context.Background()); !errors.Is(err, jwks.ErrStaticKey) {
				t.Errorf("Rotate error = %v, want ErrStaticKey", err)
			}
			if err := m.Refresh(context.Background()); err != nil {
				t.Errorf("Refresh = %v", err)
			}
		})
	}
}

func TestKeyFileErrors(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	sec1PEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	tests := []struct {
		name    string
		data    []byte
		alg     string
		wantErr error
		wantMsg string
	}{
		{"SEC 1 EC key without certificate", sec1PEM, "", nil, ""},
		{"Alg disagrees", sec1PEM, jwks.RS256, nil, "holds a ES256 key, Alg is RS256"},
		{"1024-bit RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(weak)}), "", jwks.ErrUnsupportedKey, "1024 bits"},
		{"P-384", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER}), "", jwks.ErrUnsupportedKey, "P-384"},
		{"no key", []byte("nothing"), "", nil, "no private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			m, err := jwks.New(context.Background(), jwks.Config{KeyFile: writeFile(t, tt.data), Alg: tt.alg, Now: c.Now})
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if _, err := verifyWithJWKS(t, sign(t, m, c), m.JWKS(), c); err != nil {
					t.Errorf("verify: %v", err)
				}
				return
			}
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("New error = %v, want %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	store := newMemStore()
	tests := []struct {
		name string
		cfg  jwks.Config
		want []string // settings the error names; none for a valid config
	}{
		{"store", jwks.Config{Store: store, IsNotFound: isNotFound}, nil},
		{"key file", jwks.Config{KeyFile: "key.pem"}, nil},
		{"neither", jwks.Config{}, []string{"KeyFile", "Store"}},
		{"both", jwks.Config{KeyFile: "key.pem", Store: store, IsNotFound: isNotFound}, []string{"exclusive"}},
		{"no IsNotFound", jwks.Config{Store: store}, []string{"IsNotFound"}},
		{"everything wrong", jwks.Config{
			Store: store, IsNotFound: isNotFound, Alg: "HS256", KidFormat: "sha1", RSABits: 1024,
			MaxTokenLifetime: -time.Second, RefreshInterval: -time.Second, RotationLead: -time.Second,
		}, []string{"Alg", "KidFormat", "RSABits", "MaxTokenLifetime", "RefreshInterval", "RotationLead"}},
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

// lossyStore fails its next compare-and-swap with err, after making the
// write when land is set: a write whose answer was lost.
type lossyStore struct {
	*memStore
	err  error
	land bool
}

func (s *lossyStore) CompareAndSwap(ctx context.Context, key string, old, value []byte) error {
	err := s.err
	if err == nil {
		return s.memStore.CompareAndSwap(ctx, key, old, value)
	}
	s.err = nil
	if s.land {
		if cerr := s.memStore.CompareAndSwap(ctx, key, old, value); cerr != nil {
			return cerr
		}
	}
	return err
}

// TestSwapOutcomes checks how a failed compare-and-swap is told apart:
// by what the store holds afterwards.
func TestSwapOutcomes(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name    string
		land    bool
		wantErr error // nil: the write is taken as made
	}{
		{"answer lost", true, nil},
		{"write failed", false, boom},
	}
	for _, tt := range tests {
		t.Run("create/"+tt.name, func(t *testing.T) {
			store := &lossyStore{memStore: newMemStore(), err: boom, land: tt.land}
			m, err := jwks.New(context.Background(), storeConfig(store, newClock()))
			if tt.wantErr != nil {
				// Nothing is stored, so the failure is the answer.
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("New error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := store.storedKIDs(t); len(got) != 1 || got[0] != m.ActiveKID() {
				t.Errorf("stored kids = %v, want the active %s", got, m.ActiveKID())
			}
		})
		t.Run("rotate/"+tt.name, func(t *testing.T) {
			c := newClock()
			store := &lossyStore{memStore: newMemStore()}
			m := newManager(t, storeConfig(store, c))
			first := m.ActiveKID()
			store.err, store.land = boom, tt.land
			err := m.Rotate(context.Background())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Rotate error = %v, want %v", err, tt.wantErr)
			}
			stored := store.storedKIDs(t)
			want := []string{first}
			if tt.wantErr == nil {
				want = append(want, m.ActiveKID())
				if m.ActiveKID() == first {
					t.Error("the rotated key does not sign")
				}
			} else if m.ActiveKID() != first {
				t.Errorf("ActiveKID = %s after a failed rotation, want %s", m.ActiveKID(), first)
			}
			if !slices.Equal(stored, want) {
				t.Errorf("stored kids = %v, want %v", stored, want)
			}
		})
	}
}

// TestStoredSetFormat loads a set written as the stored format spells it,
// so sets already in a store keep loading, and checks that a rotation
// writes the same members back.
func TestStoredSetFormat(t *testing.T) {
	c := newClock()
	data, err := jwks.GenerateKeyPEM(jwks.ES256, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, cert := parseKeyPEM(t, data)
	kid, err := jwks.Thumbprint(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	private := data[:bytes.Index(data, []byte("-----BEGIN CERTIFICATE"))]
	entry := func(extra string) string {
		return `{"kid":` + quote(t, kid) + `,"alg":"ES256","private_key":` + quote(t, string(private)) +
			`,"cert":` + quote(t, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))) +
			`,"created_at":"2025-03-01T11:00:00Z","activate_at":"2025-03-01T11:00:00Z"` + extra + `}`
	}
	store := newMemStore()
	store.m[jwks.DefaultStoreKey] = []byte(`{"version":1,"keys":[` + entry("") + `]}`)

	m := newManager(t, storeConfig(store, c))
	if m.ActiveKID() != kid {
		t.Fatalf("ActiveKID = %s, want the stored %s", m.ActiveKID(), kid)
	}
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The stored key comes back as it was, with the retirement added.
	want := entry(`,"retire_after":"2025-03-01T12:00:00Z"`)
	if raw := store.m[jwks.DefaultStoreKey]; !bytes.HasPrefix(raw, []byte(`{"version":1,"keys":[`+want+`,{"kid":`)) {
		t.Errorf("stored set after rotation =\n%s\nwant it to start with the old entry\n%s", raw, want)
	}
}

func quote(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

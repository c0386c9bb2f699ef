package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// SecretKind is the kind of a secret; its prefix makes leaked secrets recognizable.
type SecretKind string

// Prefixes of the secrets deploytokens issues. Each is followed by
// EncodedLen characters of lowercase RFC 4648 base32 (160 random bits).
const (
	DeployTokenSecret SecretKind = "dtd_"
	PATSecret         SecretKind = "dtp_"
	RefreshSecret     SecretKind = "dtr_"
	SessionSecret     SecretKind = "dts_"
)

// entropyBytes is 160 bits, as the threat model asks for.
const entropyBytes = 20

// EncodedLen is the length of a secret's random part.
const EncodedLen = 32

// ScannerRegexp matches every secret deploytokens issues; secret scanners
// (gitleaks, trufflehog, GitHub push protection) can use it as it is.
const ScannerRegexp = `\bdt[dprs]_[a-z2-7]{32}\b`

var (
	encoding  = base32.StdEncoding.WithPadding(base32.NoPadding)
	wellShape = regexp.MustCompile(`^` + ScannerRegexp[2:len(ScannerRegexp)-2] + `$`)
)

// Secret is a token in plaintext. It prints, logs and marshals as "***";
// Reveal is the one way to get the text, used for the single create answer.
type Secret string

// String redacts the secret.
func (Secret) String() string { return "***" }

// GoString redacts the secret in %#v.
func (Secret) GoString() string { return "***" }

// LogValue redacts the secret in slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("***") }

// MarshalJSON redacts the secret.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"***"`), nil }

// Reveal answers the plaintext.
func (s Secret) Reveal() string { return string(s) }

// Generate answers a new random secret of kind k.
func Generate(k SecretKind) (Secret, error) {
	var b [entropyBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate %s secret: %w", k, err)
	}
	return Secret(string(k) + strings.ToLower(encoding.EncodeToString(b[:]))), nil
}

// WellFormed reports whether s has the shape of a secret of kind k. It is a
// cheap pre-check, not a verification.
func WellFormed(k SecretKind, s string) bool {
	return strings.HasPrefix(s, string(k)) && wellShape.MatchString(s)
}

// Keys are the keys derived from the server secret.
type Keys struct {
	digestPool sync.Pool
	digests    atomic.Uint64
	aead       cipher.AEAD
	check      string
	// holderSalt mixes the server secret into the keys SealFor derives
	// from a holder's secret.
	holderSalt []byte
}

// MinServerSecretLen is the shortest server secret accepted, in bytes.
const MinServerSecretLen = 32

// ErrShortSecret means the server secret is too short to derive keys from.
var ErrShortSecret = errors.New("server secret must be at least 32 bytes")

// NewKeys derives the digest key, the CI encryption key and a public check
// value from the server secret.
func NewKeys(serverSecret []byte) (*Keys, error) {
	if len(serverSecret) < MinServerSecretLen {
		return nil, ErrShortSecret
	}
	digestKey, err := hkdf.Key(sha256.New, serverSecret, nil, "deploytokens digest v1", 32)
	if err != nil {
		return nil, err
	}
	encKey, err := hkdf.Key(sha256.New, serverSecret, nil, "deploytokens ci-token v1", 32)
	if err != nil {
		return nil, err
	}
	checkKey, err := hkdf.Key(sha256.New, serverSecret, nil, "deploytokens check v1", 32)
	if err != nil {
		return nil, err
	}
	holderSalt, err := hkdf.Key(sha256.New, serverSecret, nil, "deploytokens holder-seal salt v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &Keys{aead: aead, check: hex.EncodeToString(checkKey[:16]), holderSalt: holderSalt}
	k.digestPool.New = func() any { return hmac.New(sha256.New, digestKey) }
	return k, nil
}

// Digest answers the keyed digest (HMAC-SHA-256) under which a secret is
// stored and looked up.
func (k *Keys) Digest(secret string) []byte {
	k.digests.Add(1)
	h := k.digestPool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(secret))
	sum := h.Sum(make([]byte, 0, sha256.Size))
	k.digestPool.Put(h)
	return sum
}

// Digests answers how many digests Digest has computed: a refusal's
// digest work is counted, not timed, to show every refusal does the same.
func (k *Keys) Digests() uint64 { return k.digests.Load() }

// Check answers a value that identifies the server secret without revealing
// it, so replicas sharing a store can detect that their secrets differ.
func (k *Keys) Check() string { return k.check }

// Seal encrypts a CI token's secret (AES-256-GCM, random nonce), binding it
// to context (the token's identity) so a sealed blob can't be moved to
// another record.
func (k *Keys) Seal(s Secret, context string) ([]byte, error) {
	return seal(k.aead, s, []byte(context))
}

// ErrOpen means a sealed secret could not be decrypted.
var ErrOpen = errors.New("sealed secret does not decrypt")

// Open decrypts what Seal produced with the same context.
func (k *Keys) Open(sealed []byte, context string) (Secret, error) {
	return open(k.aead, sealed, []byte(context))
}

// SealFor encrypts s (AES-256-GCM, random nonce) under a key derived from
// holder, a secret the store never keeps (a web session's), and the server
// secret, for context: neither a copy of the store with the server secret
// nor one with the holder's digest can open it, only someone presenting
// holder to this server again.
func (k *Keys) SealFor(s Secret, holder, context string) ([]byte, error) {
	aead, err := k.holderAEAD(holder, context)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return seal(aead, s, nil)
}

// OpenFor decrypts what SealFor produced with the same holder and context.
func (k *Keys) OpenFor(sealed []byte, holder, context string) (Secret, error) {
	aead, err := k.holderAEAD(holder, context)
	if err != nil {
		return "", ErrOpen
	}
	return open(aead, sealed, nil)
}

// seal encrypts s under aead with a random nonce, which leads the answer.
func seal(aead cipher.AEAD, s Secret, additional []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(s)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return aead.Seal(nonce, nonce, []byte(s), additional), nil
}

// open decrypts what seal produced with the same additional data.
func open(aead cipher.AEAD, sealed, additional []byte) (Secret, error) {
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return "", ErrOpen
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], additional)
	if err != nil {
		return "", ErrOpen
	}
	return Secret(plain), nil
}

func (k *Keys) holderAEAD(holder, context string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(holder), k.holderSalt, "deploytokens holder-seal v1\x00"+context, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Equal compares two strings in constant time (for their common length).
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Algorithms a Manager signs with (the JWS "alg" names).
const (
	ES256 = "ES256" // ECDSA with P-256 and SHA-256, the default
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, 2048 bits or more
	EdDSA = "EdDSA" // Ed25519
)

// Forms of the key ID (kid) of a new key.
const (
	// KidThumbprint is the base64url SHA-256 JWK thumbprint (RFC 7638), as
	// distribution v3 computes it from a certificate; the default.
	KidThumbprint = "thumbprint"
	// KidLibtrust is the docker/libtrust key ID that distribution 2.x and
	// the GitLab container registry compute from a certificate.
	KidLibtrust = "libtrust"
)

// MinRSABits is the smallest RSA modulus a Manager generates or accepts.
const MinRSABits = 2048

// ErrUnsupportedKey means a key's type, curve or size is not one a Manager
// signs with.
var ErrUnsupportedKey = errors.New("unsupported key")

var b64 = base64.RawURLEncoding

// Thumbprint answers the RFC 7638 JWK thumbprint of pub (SHA-256,
// base64url), for RSA, ECDSA (P-256) and Ed25519 public keys.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := publicJWK(pub, "", "")
	if err != nil {
		return "", err
	}
	sum, err := j.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnsupportedKey, err)
	}
	return b64.EncodeToString(sum), nil
}

// registryThumbprint answers the thumbprint distribution v3 computes for a
// certificate in its rootcertbundle: it encodes EC coordinates without their
// leading zero bytes (RFC 7518 wants them full length), so for about one
// P-256 key in 128 it differs from Thumbprint. go-jose only knows RFC 7638's
// form, so that one case is hashed here.
func registryThumbprint(pub crypto.PublicKey) (string, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || !shortCoordinate(k) {
		return Thumbprint(pub)
	}
	crv, x, y, err := ecCoordinates(k)
	if err != nil {
		return "", err
	}
	members := fmt.Sprintf(`{"crv":"%s","kty":"EC","x":"%s","y":"%s"}`, crv, b64.EncodeToString(trimZeros(x)), b64.EncodeToString(trimZeros(y)))
	sum := sha256.Sum256([]byte(members))
	return b64.EncodeToString(sum[:]), nil
}

// LibtrustKeyID answers the docker/libtrust key ID of pub: the first 240
// bits of the SHA-256 of its DER (PKIX) encoding in base32, as twelve groups
// of four characters joined by colons.
func LibtrustKeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnsupportedKey, err)
	}
	sum := sha256.Sum256(der)
	// 30 bytes are 48 base32 characters exactly, so there is no padding.
	s := base32.StdEncoding.EncodeToString(sum[:30])
	groups := make([]string, 0, len(s)/4)
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:i+4])
	}
	return strings.Join(groups, ":"), nil
}

// keyID answers the kid of pub in the given form.
func keyID(pub crypto.PublicKey, format string) (string, error) {
	if format == KidLibtrust {
		return LibtrustKeyID(pub)
	}
	return registryThumbprint(pub)
}

// knownKeyID reports whether kid is one of the forms of pub's key ID, so a
// stored set whose kid does not belong to its key is refused.
func knownKeyID(pub crypto.PublicKey, kid string) bool {
	for _, f := range []func(crypto.PublicKey) (string, error){Thumbprint, registryThumbprint, LibtrustKeyID} {
		if id, err := f(pub); err == nil && id == kid {
			return true
		}
	}
	return false
}

// ecCoordinates answers a P-256 key's curve name and its coordinates at the
// full length of the curve.
func ecCoordinates(k *ecdsa.PublicKey) (crv string, x, y []byte, err error) {
	if k.Curve != elliptic.P256() {
		return "", nil, nil, fmt.Errorf("%w: ECDSA curve %s, want P-256", ErrUnsupportedKey, k.Curve.Params().Name)
	}
	point, err := k.Bytes()
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: %w", ErrUnsupportedKey, err)
	}
	n := (len(point) - 1) / 2
	return "P-256", point[1 : 1+n], point[1+n:], nil
}

func trimZeros(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// shortCoordinate reports whether a coordinate of k starts with a zero byte,
// where distribution's thumbprint differs from RFC 7638's.
func shortCoordinate(k *ecdsa.PublicKey) bool {
	_, x, y, err := ecCoordinates(k)
	return err != nil || x[0] == 0 || y[0] == 0
}

// generateKey answers a new private key for alg.
func generateKey(alg string, rsaBits int) (crypto.Signer, error) {
	switch alg {
	case ES256:
		// Drawing again when a coordinate has a leading zero byte makes the
		// kid the same for RFC 7638 and for distribution v3 (see
		// registryThumbprint); it costs one key in 128.
		for {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return nil, fmt.Errorf("generate ES256 key: %w", err)
			}
			if !shortCoordinate(&k.PublicKey) {
				return k, nil
			}
		}
	case RS256:
		if rsaBits < MinRSABits {
			return nil, fmt.Errorf("%w: RSA key of %d bits, want at least %d", ErrUnsupportedKey, rsaBits, MinRSABits)
		}
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("generate RS256 key: %w", err)
		}
		return k, nil
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate EdDSA key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: algorithm %q", ErrUnsupportedKey, alg)
}

// algOf answers the algorithm that signs with k, refusing keys too weak or
// of a kind the registry's verifier does not take.
func algOf(k crypto.Signer) (string, jwt.SigningMethod, error) {
	switch p := k.(type) {
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return "", nil, fmt.Errorf("%w: ECDSA curve %s, want P-256", ErrUnsupportedKey, p.Curve.Params().Name)
		}
		return ES256, jwt.SigningMethodES256, nil
	case *rsa.PrivateKey:
		if bits := p.N.BitLen(); bits < MinRSABits {
			return "", nil, fmt.Errorf("%w: RSA key of %d bits, want at least %d", ErrUnsupportedKey, bits, MinRSABits)
		}
		return RS256, jwt.SigningMethodRS256, nil
	case ed25519.PrivateKey:
		return EdDSA, jwt.SigningMethodEdDSA, nil
	}
	return "", nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, k)
}

// selfSign answers a self-signed certificate for k, which a registry takes as
// a root of its rootcertbundle and finds again in an x5c header. It never
// expires (RFC 5280's 99991231235959Z) because it stands for the key alone:
// the key is retired by leaving the bundle. It is valid from an hour before
// now so a registry whose clock lags accepts it at once.
func selfSign(k crypto.Signer, kid string, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "deploytokens token signing " + kid},
		NotBefore:             now.Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func encodePrivateKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// parsePEM answers the one private key in data (PKCS #8, SEC 1 or PKCS #1)
// and the certificates beside it.
func parsePEM(data []byte) (crypto.Signer, []*x509.Certificate, error) {
	var (
		key   crypto.Signer
		certs []*x509.Certificate
	)
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("parse certificate: %w", err)
			}
			certs = append(certs, c)
			continue
		}
		var (
			parsed any
			err    error
		)
		switch block.Type {
		case "PRIVATE KEY":
			parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			parsed, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("parse %s: %w", strings.ToLower(block.Type), err)
		}
		if key != nil {
			return nil, nil, errors.New("more than one private key")
		}
		signer, ok := parsed.(crypto.Signer)
		if !ok {
			return nil, nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, parsed)
		}
		key = signer
	}
	if key == nil {
		return nil, nil, errors.New("no private key in PEM data")
	}
	return key, certs, nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no certificate in PEM data")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return c, nil
}

// certFor answers the first certificate of certs that holds pub.
func certFor(pub crypto.PublicKey, certs []*x509.Certificate) *x509.Certificate {
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil
	}
	for _, c := range certs {
		if eq.Equal(c.PublicKey) {
			return c
		}
	}
	return nil
}

// GenerateKeyPEM answers a new private key for alg (PKCS #8) followed by its
// self-signed certificate, in PEM: what Config.KeyFile expects. Keeping the
// certificate in the file lets every replica send and export the same one.
func GenerateKeyPEM(alg string, now time.Time) ([]byte, error) {
	k, err := generateKey(alg, MinRSABits)
	if err != nil {
		return nil, err
	}
	kid, err := Thumbprint(k.Public())
	if err != nil {
		return nil, err
	}
	cert, err := selfSign(k, kid, now)
	if err != nil {
		return nil, err
	}
	out, err := encodePrivateKey(k)
	if err != nil {
		return nil, err
	}
	return append(out, encodeCert(cert)...), nil
}

// publicJWK answers pub as a JSON Web Key (RFC 7517, 7518, 8037) labeled
// with alg, kid and use "sig", refusing the keys a Manager does not sign
// with (go-jose would take P-384 and P-521 too).
func publicJWK(pub crypto.PublicKey, alg, kid string) (jose.JSONWebKey, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		// go-jose writes the coordinates full length, as RFC 7518 asks;
		// it refuses shorter ones when distribution v3 reads the JWKS.
		if _, _, _, err := ecCoordinates(k); err != nil {
			return jose.JSONWebKey{}, err
		}
	case *rsa.PublicKey, ed25519.PublicKey:
	default:
		return jose.JSONWebKey{}, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
	return jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}, nil
}

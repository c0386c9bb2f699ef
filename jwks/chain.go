package jwks

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// Signing modes (Config.Mode): how a registry finds the key of a token.
const (
	// ModeJWKS publishes every signing key, for the registry's jwks or
	// rootcertbundle, and names it by kid. distribution reads either only
	// when it starts, so a new key needs an export and a registry restart
	// (see Config.RotationLead). The default: it is what registries
	// configured before ModeX5C existed verify.
	ModeJWKS = "jwks"
	// ModeX5C keeps one root key, whose certificate the registry trusts
	// once (rootcertbundle), and signs with short-lived leaf keys issued
	// under it and sent in each token's x5c header. The registry checks the
	// chain to the root and uses the leaf's key, so leaves rotate with no
	// change to the registry. A registry with only a jwks refuses such
	// tokens: it has no roots to check x5c against.
	ModeX5C = "x5c"
)

// leafSlack is how much longer than its rotation period a leaf's
// certificate lasts at least, so a scheduled rotation that fails for a
// while (store down) does not stop token verification at once.
const leafSlack = time.Hour

func (c Config) validateMode() []error {
	var errs []error
	switch c.Mode {
	case "", ModeJWKS:
		if c.KeyRotation != 0 {
			// distribution reads a jwks only at start: a scheduled new
			// key would fail every pull until a restart.
			errs = append(errs, fmt.Errorf("jwks: KeyRotation needs Mode %s", ModeX5C))
		}
	case ModeX5C:
		if c.KeyFile != "" {
			errs = append(errs, fmt.Errorf("jwks: Mode %s keeps its root and leaves in Store, not in a KeyFile", ModeX5C))
		}
		if c.RotationLead != 0 {
			errs = append(errs, fmt.Errorf("jwks: RotationLead has no use in Mode %s: a new leaf verifies at once", ModeX5C))
		}
	default:
		errs = append(errs, fmt.Errorf("jwks: Mode %q is not one of %s, %s", c.Mode, ModeJWKS, ModeX5C))
	}
	return errs
}

// RootCertificatePEM answers, in ModeX5C, the root certificate that the
// registry's rootcertbundle must hold, the same for the life of the store;
// nil in ModeJWKS.
func (m *Manager) RootCertificatePEM() []byte {
	return bytes.Clone(m.view.Load().root)
}

// rotateIfDue is RotateIfDue for Run, which logs instead of answering.
// It asks the store only when this replica's view finds the rotation due,
// so a refresh interval costs one store read, not two.
func (m *Manager) rotateIfDue(ctx context.Context) {
	if m.cfg.Mode != ModeX5C || m.cfg.KeyRotation == 0 {
		return
	}
	keys := m.view.Load().keys
	if m.cfg.Now().Before(keys[len(keys)-1].activateAt.Add(m.cfg.KeyRotation)) {
		return
	}
	if _, err := m.RotateIfDue(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("scheduled signing key rotation", "err", err)
	}
}

// rootSealContext binds a sealed root key to its kid, apart from the
// leaves' context, so neither can stand in for the other.
func rootSealContext(kid string) string { return "jwks root key " + kid }

// rootOf parses the root of a stored set in ModeX5C (nil in ModeJWKS),
// reusing it when parsed before.
func (m *Manager) rootOf(set storedSet) (*material, error) {
	if m.cfg.Mode != ModeX5C {
		return nil, nil
	}
	if set.Root == nil {
		return nil, errors.New("stored key set has no root key")
	}
	if mat := m.parsed[cacheKey(*set.Root)]; mat != nil {
		return mat, nil
	}
	mat, err := m.parseStored(*set.Root, rootSealContext(set.Root.KID))
	if err != nil {
		return nil, fmt.Errorf("stored root key %s: %w", set.Root.KID, err)
	}
	if !mat.cert.IsCA {
		return nil, fmt.Errorf("stored root key %s: certificate is not a CA", set.Root.KID)
	}
	return mat, nil
}

// newRoot generates the root key and its self-signed CA certificate.
func (m *Manager) newRoot(now time.Time) (*storedKey, *material, error) {
	k, err := generateKey(m.cfg.Alg, m.cfg.RSABits)
	if err != nil {
		return nil, nil, err
	}
	alg, method, err := algOf(k)
	if err != nil {
		return nil, nil, err
	}
	kid, err := Thumbprint(k.Public())
	if err != nil {
		return nil, nil, err
	}
	cert, err := newRootCert(k, kid, now)
	if err != nil {
		return nil, nil, err
	}
	private, err := encodePrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	sk := &storedKey{
		KID: kid, Alg: alg, Cert: string(encodeCert(cert)),
		CreatedAt: now.UTC().Truncate(time.Second), ActivateAt: now.UTC().Truncate(time.Second),
	}
	if m.cfg.Sealer != nil {
		if sk.SealedPrivateKey, err = m.cfg.Sealer.Seal(tokens.Secret(private), rootSealContext(kid)); err != nil {
			return nil, nil, fmt.Errorf("seal root key: %w", err)
		}
	} else {
		sk.PrivateKey = string(private)
	}
	return sk, &material{alg: alg, method: method, private: k, cert: cert}, nil
}

// leafNotAfter answers when the certificate of a leaf that signs from
// activateAt ends: after its rotation period, the lifetime of the last
// token it signs, a replica's refresh delay and some slack. With no
// scheduled rotation nothing would renew it, so it never ends.
func (m *Manager) leafNotAfter(activateAt time.Time) time.Time {
	if m.cfg.KeyRotation == 0 {
		return neverExpires
	}
	slack := max(leafSlack, m.cfg.KeyRotation/4)
	return activateAt.Add(m.cfg.KeyRotation + slack + m.cfg.MaxTokenLifetime + m.cfg.RefreshInterval).UTC().Truncate(time.Second)
}

// neverExpires is RFC 5280's "no well-defined expiration date".
var neverExpires = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

func serialNumber() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return serial, nil
}

// newRootCert answers the self-signed CA certificate of the root key. It
// never expires: it is exported once into the registry's configuration,
// and replacing it means a registry change, which this mode exists to
// avoid. It may issue leaves only (path length 0).
func newRootCert(k crypto.Signer, kid string, now time.Time) (*x509.Certificate, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "deploytokens token signing root " + kid},
		NotBefore:             now.Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:              neverExpires,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		return nil, fmt.Errorf("create root certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// issueLeaf answers a certificate for k issued by root, valid from an hour
// before now (a registry whose clock lags accepts it at once) to notAfter.
func issueLeaf(k crypto.Signer, kid string, now, notAfter time.Time, root *material) (*x509.Certificate, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "deploytokens token signing " + kid},
		NotBefore:             now.Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, k.Public(), root.private)
	if err != nil {
		return nil, fmt.Errorf("issue leaf certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

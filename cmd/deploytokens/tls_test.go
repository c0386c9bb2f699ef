package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// testCA is a certificate authority generated for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a server certificate for localhost and 127.0.0.1 with the
// given serial, and its key, to certFile and keyFile.
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Key first: a reader between the two writes sees a mismatched pair,
	// which the reloader must refuse, not serve.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCertReloaderWatchesFiles: a renewed pair is served once the files
// change, with no signal; a half-written renewal keeps the old pair.
func TestCertReloaderWatchesFiles(t *testing.T) {
	ca := newTestCA(t, "watch CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.issue(t, 10, certFile, keyFile)
	r, err := loadCertPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	r.poll = 10 * time.Millisecond
	logs := &testenv.LogBuffer{}
	go r.watch(t.Context(), nil, slog.New(slog.NewTextHandler(logs, nil)))
	serial := func() int64 {
		c, _ := r.getCertificate(&tls.ClientHelloInfo{})
		return c.Leaf.SerialNumber.Int64()
	}
	waitFor := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); serial() != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("serving serial %d, want %d; logs:\n%s", serial(), want, logs.String())
			}
		}
	}

	// A key whose certificate has not been written yet: refused.
	other := t.TempDir()
	ca.issue(t, 11, filepath.Join(other, "cert.pem"), filepath.Join(other, "key.pem"))
	key11, _ := os.ReadFile(filepath.Join(other, "key.pem"))
	future := time.Now().Add(time.Minute)
	os.WriteFile(keyFile, key11, 0o600)
	os.Chtimes(keyFile, future, future)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "TLS certificate not reloaded"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a mismatched pair was not refused; logs:\n%s", logs.String())
		}
	}
	if got := serial(); got != 10 {
		t.Fatalf("serving serial %d after a half-written renewal, want the old 10", got)
	}
	// The renewal completes.
	ca.issue(t, 12, certFile, keyFile)
	later := future.Add(time.Minute)
	os.Chtimes(certFile, later, later)
	waitFor(12)
}

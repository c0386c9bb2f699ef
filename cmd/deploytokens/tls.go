package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certPollInterval is how often the certificate files' modification times
// are looked at: a renewal tool (certbot, cert-manager's files) that sends
// no SIGHUP is picked up within it.
const certPollInterval = 10 * time.Second

// certReloader serves the certificate of --tls-cert and --tls-key to every
// new TLS connection, and swaps in the files' new pair when told to
// (SIGHUP) or when they change. net/http has no reloading of its own, and
// fsnotify is not a dependency; a stat every few seconds is enough.
type certReloader struct {
	certFile, keyFile string
	poll              time.Duration // certPollInterval; tests shorten it
	cert              atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // serializes reloads and guards seen
	seen [2]time.Time
}

// loadCertPair reads the pair once, answering an error that names the
// file at fault; the server refuses to start on it.
func loadCertPair(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, poll: certPollInterval}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload reads the pair and swaps it in; on error the old pair stays.
func (r *certReloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = r.mtimes()
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return fmt.Errorf("--tls-cert (DEPLOYTOKENS_TLS_CERT): %w", err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-key (DEPLOYTOKENS_TLS_KEY): %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// X509KeyPair's messages say which of the two it could not read
		// or that they don't match; the files are named here.
		return fmt.Errorf("--tls-cert %s and --tls-key %s: %w", r.certFile, r.keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("--tls-cert (DEPLOYTOKENS_TLS_CERT) %s: %w", r.certFile, err)
	}
	pair.Leaf = leaf
	r.cert.Store(&pair)
	return nil
}

func (r *certReloader) mtimes() (m [2]time.Time) {
	for i, f := range []string{r.certFile, r.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			m[i] = fi.ModTime()
		}
	}
	return m
}

// changed reports whether either file changed since the last reload.
func (r *certReloader) changed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mtimes() != r.seen
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// tlsConfig answers the server's TLS configuration; ServeTLS adds h2.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}
}

// watch reloads on every value of hup and whenever the files' modification
// times change, until ctx ends. A pair that does not load (a renewal half
// written) is logged and the old one kept; the next change or SIGHUP tries
// again.
func (r *certReloader) watch(ctx context.Context, hup <-chan os.Signal, logger *slog.Logger) {
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	for {
		why := "SIGHUP"
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-tick.C:
			if !r.changed() {
				continue
			}
			why = "the files changed"
		}
		if err := r.reload(); err != nil {
			logger.Error("TLS certificate not reloaded: serving the previous one", "why", why, "err", err)
			continue
		}
		leaf := r.cert.Load().Leaf
		logger.Info("TLS certificate reloaded", "why", why, "subject", leaf.Subject.String(),
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

const keysUsage = `usage: deploytokens keys jwks|cert|rotate [serve flags]

  jwks    print the public key set, for the registry's auth.token.jwks file
  cert    print the signing certificates (PEM), for auth.token.rootcertbundle
          (with --signing-mode x5c: the root certificate, the same for good)
  cert --root  the same, refused unless --signing-mode is x5c
  rotate  add a new signing key; old public keys stay published until every
          token they signed has expired

With --from URL, jwks asks a running server instead of opening the store
(the embedded store is locked while a server runs).
`

func cmdKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, keysUsage)
		return errors.New("missing jwks, cert or rotate")
	}
	what, rest := args[0], args[1:]
	if what != "jwks" && what != "cert" && what != "rotate" {
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("unknown keys command %q", what)
	}
	// --root is keys cert's own flag, not a serve flag.
	root := what == "cert" && slices.Contains(rest, "--root")
	if root {
		rest = slices.DeleteFunc(slices.Clone(rest), func(a string) bool { return a == "--root" })
	}
	if len(rest) >= 2 && rest[0] == "--from" && what == "jwks" {
		return fetchJWKS(ctx, rest[1], stdout)
	}
	cfg, err := loadConfig("keys "+what, rest, getenv, stderr)
	if err != nil {
		return err
	}
	cfg.RedisCacheSize = 0 // one command: nothing to cache between requests
	store, err := openStore(ctx, &cfg, slog.Default())
	if errors.Is(err, boltstore.ErrLocked) {
		hint := "stop the server first"
		if what == "jwks" {
			hint += ", or ask it: keys jwks --from URL"
		}
		return fmt.Errorf("%w (%s)", err, hint)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := openKeys(&cfg)
	if err != nil {
		return err
	}
	if err := checkSecret(ctx, store, keys); err != nil {
		return err
	}
	m, err := newSigner(ctx, &cfg, store, keys, nil)
	if err != nil {
		return err
	}
	switch what {
	case "jwks":
		_, err = stdout.Write(append(m.JWKS(), '\n'))
	case "cert":
		if root && m.RootCertificatePEM() == nil {
			return errors.New("--root: there is a root certificate with --signing-mode x5c (DEPLOYTOKENS_SIGNING_MODE) only")
		}
		_, err = stdout.Write(m.CertificatesPEM())
	case "rotate":
		if err = m.Rotate(ctx); err == nil {
			ks := m.Keys() // oldest first: the new key is the last
			next := ks[len(ks)-1]
			if m.RootCertificatePEM() != nil {
				fmt.Fprintf(stdout, "signing with leaf key %s, issued by the root: the registry needs no change\n", next.KID)
			} else if next.Active {
				fmt.Fprintf(stdout, "signing with key %s; update the registry's jwks or rootcertbundle\n", next.KID)
			} else {
				fmt.Fprintf(stdout, "key %s is published and signs from %s on; update the registry's jwks or rootcertbundle before then\n",
					next.KID, next.ActivateAt.UTC().Format(time.RFC3339))
			}
		}
	}
	return err
}

func fetchJWKS(ctx context.Context, base string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/-/jwks", nil)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("--from: %s answered %s", base, resp.Status)
	}
	_, err = io.Copy(stdout, io.LimitReader(resp.Body, 1<<20))
	return err
}

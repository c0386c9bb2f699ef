package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

const keysAbout = `  jwks    print the public key set, for the registry's auth.token.jwks file
  cert    print the signing certificates (PEM), for auth.token.rootcertbundle
          (with --signing-mode x5c: the root certificate, the same for good)
  cert --root  the same, refused unless --signing-mode is x5c
  rotate  add a new signing key; old public keys stay published until every
          token they signed has expired

jwks and cert open the store, which a running server holds locked when it is
the embedded one: give --from URL to ask the running server instead.`

var keysHelp = commandHelp{
	usage: "deploytokens keys jwks|cert|rotate [flags]",
	about: "The registry's signing keys.\n\n" + keysAbout + "\n\ndeploytokens keys COMMAND --help lists each command's flags.",
	exit:  exitCommon,
}

// keysSettings are the serve settings the keys commands read: where the
// store and the server secret are, and what the keys look like. They must
// be the server's own, so they are the same flags and variables.
var keysSettings = []string{"data-dir", "secret-file", "redis-url", "redis-prefix",
	"signing-key-file", "signing-alg", "kid-format", "x5c", "token-lifetime", "rotation-lead",
	"signing-mode", "key-rotation"}

var keysCommandHelp = map[string]string{
	"jwks":   "Prints the public key set (JWKS) for the registry's auth.token.jwks file.",
	"cert":   "Prints the signing certificates (PEM) for the registry's auth.token.rootcertbundle.",
	"rotate": "Adds a new signing key; old public keys stay published until every token they\nsigned has expired. Export jwks or cert to the registry again afterwards.",
}

func cmdKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlags(newFlagSet("keys"), args, keysHelp, stdout); err != nil {
			return err
		}
		return usageError{"missing jwks, cert or rotate"}
	}
	what, rest := args[0], args[1:]
	about, ok := keysCommandHelp[what]
	if !ok {
		return usageError{fmt.Sprintf("unknown keys command %q: jwks, cert or rotate", what)}
	}
	cfg := defaultConfig()
	fs := newFlagSet("keys " + what)
	cfg.bindOnly(fs, keysSettings)
	var from string
	if what != "rotate" {
		fs.StringVar(&from, "from", "", "URL of a running deploytokens to ask, instead of opening the store (the embedded one is locked while it runs)")
	}
	var root bool
	if what == "cert" {
		fs.BoolVar(&root, "root", false, "the root certificate of --signing-mode x5c, for the registry's rootcertbundle; refused in jwks mode")
	}
	h := commandHelp{
		usage: "deploytokens keys " + what + " [flags]",
		about: about + "\nThe flags and variables are the server's own: give the same values it runs with.",
		env:   "  DEPLOYTOKENS_* of each flag above",
		exit:  exitCommon,
	}
	if err := parseConfig(&cfg, fs, rest, getenv, h, stdout); err != nil {
		return err
	}
	if from != "" {
		path := map[string]string{"jwks": "/-/jwks", "cert": "/-/certs.pem"}[what]
		return fetchKeys(ctx, from, path, stdout)
	}
	cfg.RedisCacheSize = 0 // one command: nothing to cache between requests
	store, err := openStore(ctx, &cfg, slog.Default())
	if errors.Is(err, boltstore.ErrLocked) {
		hint := "stop the server first"
		if what != "rotate" {
			hint += ", or ask it: keys " + what + " --from URL"
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

// fetchKeys copies what a running server answers at path to stdout.
func fetchKeys(ctx context.Context, base, path string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+path, nil)
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

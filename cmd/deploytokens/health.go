package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

var healthHelp = commandHelp{
	usage: "deploytokens health [--url URL] [--timeout D]",
	about: "Asks a running server's /-/health and exits 0 when it answers 200 OK: the\ncontainer image's HEALTHCHECK, which has no curl to do it.",
	env: `  DEPLOYTOKENS_LISTEN     where the server listens, when --url is unset (a
                          wildcard host means this host's loopback)
  DEPLOYTOKENS_TLS_CERT   set: ask over https (the certificate is not checked)`,
	exit: `  0  the server answered 200 (or --help)
  1  it did not, or not within --timeout
  2  bad command line`,
}

// cmdHealth is the image's health probe. It lives in the binary because
// the image carries no HTTP client of its own, and a probe from inside
// the container must reach the server the way its listen address says.
func cmdHealth(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("health")
	target := fs.String("url", "", "the server to ask (default: from DEPLOYTOKENS_LISTEN, else http://127.0.0.1:8080)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := parseFlags(fs, args, healthHelp, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	base := *target
	if base == "" {
		base = healthURL(getenv("DEPLOYTOKENS_LISTEN"), getenv("DEPLOYTOKENS_TLS_CERT") != "")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/-/health", nil)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	// The probe asks whether this server is up, not whether its
	// certificate names the loopback address it is reached at.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s", base, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// healthURL answers the URL a process beside the server reaches it at,
// from its listen address.
func healthURL(listen string, tls bool) string {
	if listen == "" {
		listen = defaultConfig().Listen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = "127.0.0.1", "8080"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/distribution/reference"
)

// The kubelet's credential provider protocol
// (credentialprovider.kubelet.k8s.io/v1): the kubelet runs the plugin for
// each image it must pull, a CredentialProviderRequest on stdin, and reads
// a CredentialProviderResponse from stdout. With KEP-4412
// (KubeletServiceAccountTokenForCredentialProviders) the request carries
// the pod's service-account token, for the audience the kubelet's
// tokenAttributes name.
const credentialProviderAPI = "credentialprovider.kubelet.k8s.io/v1"

type credentialProviderRequest struct {
	APIVersion          string `json:"apiVersion"`
	Kind                string `json:"kind"`
	Image               string `json:"image"`
	ServiceAccountToken string `json:"serviceAccountToken"`
}

type credentialProviderAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type credentialProviderResponse struct {
	APIVersion    string                            `json:"apiVersion"`
	Kind          string                            `json:"kind"`
	CacheKeyType  string                            `json:"cacheKeyType"`
	CacheDuration string                            `json:"cacheDuration"`
	Auth          map[string]credentialProviderAuth `json:"auth"`
}

var credentialProviderHelp = commandHelp{
	usage: "deploytokens credential-provider --url URL --username NAME < CredentialProviderRequest",
	about: `A kubelet image credential provider (credentialprovider.kubelet.k8s.io/v1).
With KEP-4412 the kubelet gives it the pod's service-account token; it answers
the image's registry with the deploy token's username and that token as the
password, which the server takes when a federated identity of the deploy token
trusts the token. It checks the token at the server once first (RFC 8693 token
exchange on /jwt/auth), so a refusal shows in the kubelet's log with its
reason. The kubelet's CredentialProviderConfig names it with args
[credential-provider, --url, ..., --username, ...] and tokenAttributes
(serviceAccountTokenAudience) set; see the README's keyless section.`,
	env:  `  DEPLOYTOKENS_URL, DEPLOYTOKENS_USERNAME, DEPLOYTOKENS_REGISTRY_SERVICE: as the flags`,
	exit: exitCommon,
}

// credentialCacheMargin is taken off the service-account token's remaining
// life in the cache duration: the kubelet must ask again before the
// registry sees an expired password.
const credentialCacheMargin = 30 * time.Second

// cmdCredentialProvider answers the kubelet's request with credentials for
// the image's registry: the deploy token's username and, as its password,
// the pod's service-account token itself. /jwt/auth takes an OIDC token as
// the password of a deploy token whose federated identity trusts it, so
// the container runtime logs in with it as with a secret; no secret is
// minted, stored or cached on the node. Before answering, the token is
// exchanged once at the server (RFC 8693 on /jwt/auth), so a token the
// server refuses fails here, in the kubelet's log, with the reason, rather
// than as an anonymous pull later.
func cmdCredentialProvider(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("credential-provider")
	server := fs.String("url", getenv("DEPLOYTOKENS_URL"), "URL of the deploytokens server (DEPLOYTOKENS_URL)")
	username := fs.String("username", getenv("DEPLOYTOKENS_USERNAME"), "username of the deploy token whose federated identity trusts the service-account token (DEPLOYTOKENS_USERNAME)")
	service := fs.String("service", cmp.Or(getenv("DEPLOYTOKENS_REGISTRY_SERVICE"), defaultConfig().RegistryService), "the registry's service name, as the server's --registry-service (DEPLOYTOKENS_REGISTRY_SERVICE)")
	if err := parseFlags(fs, args, credentialProviderHelp, stdout); err != nil {
		return err
	}
	var errs []error
	if *server == "" {
		errs = append(errs, errors.New("--url (DEPLOYTOKENS_URL) is missing"))
	}
	if *username == "" {
		errs = append(errs, errors.New("--username (DEPLOYTOKENS_USERNAME) is missing"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	var req credentialProviderRequest
	dec := json.NewDecoder(io.LimitReader(stdin, 1<<20))
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("read the CredentialProviderRequest on stdin: %w", err)
	}
	if req.APIVersion != credentialProviderAPI || req.Kind != "CredentialProviderRequest" {
		return fmt.Errorf("stdin is a %s %s; want a %s CredentialProviderRequest", req.APIVersion, req.Kind, credentialProviderAPI)
	}
	if req.ServiceAccountToken == "" {
		return errors.New("the request has no serviceAccountToken: set tokenAttributes.serviceAccountTokenAudience for this provider in the kubelet's CredentialProviderConfig (KEP-4412)")
	}
	ref, err := reference.ParseNormalizedNamed(req.Image)
	if err != nil {
		return fmt.Errorf("image %q: %w", req.Image, err)
	}
	registry := reference.Domain(ref)
	exp, err := jwtExpiry(req.ServiceAccountToken)
	if err != nil {
		return err
	}
	if err := exchangeAtServer(ctx, *server, *service, *username, req.ServiceAccountToken); err != nil {
		return err
	}
	cache := max(time.Until(exp)-credentialCacheMargin, 0).Truncate(time.Second)
	return json.NewEncoder(stdout).Encode(credentialProviderResponse{
		APIVersion: credentialProviderAPI, Kind: "CredentialProviderResponse",
		// The credentials hold for every image of the registry the
		// deploy token may pull; the kubelet keys its cache by the
		// service-account token as well when tokenAttributes.cacheType
		// is Token, so pods of other accounts never share them.
		CacheKeyType: "Registry", CacheDuration: cache.String(),
		Auth: map[string]credentialProviderAuth{registry: {Username: *username, Password: req.ServiceAccountToken}},
	})
}

// jwtExpiry reads exp from a JWT without verifying it: only to bound how
// long the kubelet caches it, the server verifies it.
func jwtExpiry(tok string) (time.Time, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("the serviceAccountToken is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, errors.New("the serviceAccountToken's payload is not base64url")
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Exp == 0 {
		return time.Time{}, errors.New("the serviceAccountToken has no exp")
	}
	return time.Unix(c.Exp, 0), nil
}

// exchangeAtServer trades the token at the server's /jwt/auth with the
// token-exchange grant, and answers why when the server refuses it.
func exchangeAtServer(ctx context.Context, server, service, username, tok string) error {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q is not an http(s) URL", server)
	}
	form := url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {tok},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "username": {username}, "service": {service},
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.JoinPath("/jwt/auth").String(), strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirects.Do(req)
	if err != nil {
		return fmt.Errorf("exchange the service-account token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Errors []struct {
				Message string `json:"message"`
			} `json:"errors"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
			msg = e.Errors[0].Message
		}
		return fmt.Errorf("the server refused the service-account token for %s: %d %s (check the deploy token's federated identities: issuer, audience, claims)", username, resp.StatusCode, msg)
	}
	return nil
}

// noRedirects is the client of the exchange: its form carries the pod's
// service-account token, which a 307 or 308 would send on to wherever
// the redirect points.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

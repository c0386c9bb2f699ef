package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// Federation verifies OIDC tokens of the allowed issuers (a CI job's, a
// pod's service-account token) and trades one that a deploy token's
// federated identity trusts for that deploy token.
type Federation struct {
	// Issuers are the allowed issuers, exactly as their tokens' iss.
	Issuers []string
	// MaxAge refuses tokens issued longer ago than this, whatever their
	// exp says (0: no limit).
	MaxAge time.Duration
	// Client fetches discovery documents and key sets; its Timeout bounds
	// each fetch. Nil uses a client with a 10s timeout.
	Client *http.Client
	// Now is the clock tokens are checked against; nil is time.Now.
	Now func() time.Time

	mu      sync.Mutex
	issuers map[string]*issuer
}

// JWTs are bigger than the secrets maxCredentialLen bounds: a Kubernetes
// service-account token with its claims runs to 1.5 KB, GitLab's and
// GitHub's to about 1.2 KB, and RSA-4096 signatures add 350 bytes more.
const maxJWTLen = 8 << 10

// discoveryRetry is how long a failed discovery is remembered before it is
// tried again, and keyRefreshEvery the least time between two fetches of an
// issuer's key set: a stream of tokens with made-up kids or issuers must not
// become a stream of requests to the issuer.
const (
	discoveryRetry  = time.Minute
	keyRefreshEvery = time.Minute
	fetchTimeout    = 10 * time.Second
)

// LooksLikeJWT reports whether a Basic password is a compact JWS: three
// base64url parts, the first a JSON object ("eyJ"). Deploy token secrets,
// PATs and the admin token never have dots, so which path a password takes
// is decided from its form alone.
func LooksLikeJWT(s string) bool {
	return len(s) <= maxJWTLen && strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2 &&
		!strings.HasPrefix(s, string(tokens.DeployTokenSecret))
}

// errFederation is why an OIDC token is refused, for the log only: the
// caller hears ErrDenied, the same answer as for a wrong secret.
type errFederation string

func (e errFederation) Error() string { return string(e) }

func (f *Federation) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Federation) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return &http.Client{Timeout: fetchTimeout}
}

// issuer is one allowed issuer's discovery and keys, fetched on first use.
type issuer struct {
	url string
	fed *Federation

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	failedAt time.Time // of the last failed discovery
}

// verifierFor answers the verifier of an allowed issuer, discovering it on
// first use. A failed discovery is not retried for discoveryRetry.
func (f *Federation) verifierFor(ctx context.Context, iss string) (*oidc.IDTokenVerifier, error) {
	if !slices.Contains(f.Issuers, iss) {
		return nil, errFederation("the issuer is not allowed")
	}
	f.mu.Lock()
	if f.issuers == nil {
		f.issuers = map[string]*issuer{}
	}
	is := f.issuers[iss]
	if is == nil {
		is = &issuer{url: iss, fed: f}
		f.issuers[iss] = is
	}
	f.mu.Unlock()

	is.mu.Lock()
	defer is.mu.Unlock()
	if is.verifier != nil {
		return is.verifier, nil
	}
	if !is.failedAt.IsZero() && f.now().Sub(is.failedAt) < discoveryRetry {
		return nil, ErrUnavailable
	}
	v, err := f.discover(ctx, iss)
	if err != nil {
		is.failedAt = f.now()
		return nil, err
	}
	is.verifier = v
	return v, nil
}

// discover reads the issuer's discovery document (go-oidc checks that it
// names the same issuer) and builds its verifier.
func (f *Federation) discover(ctx context.Context, iss string) (*oidc.IDTokenVerifier, error) {
	// Not the request's context: a client giving up must not fail the
	// discovery for everyone, and the timeout bounds it.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(dctx, f.client()), iss)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery of %s: %w: %w", iss, err, ErrUnavailable)
	}
	var meta struct {
		JWKSURL string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURL == "" {
		return nil, fmt.Errorf("oidc discovery of %s: no jwks_uri: %w", iss, ErrUnavailable)
	}
	algs := signingAlgs(meta.Algs)
	keys := &keySet{url: meta.JWKSURL, fed: f, algs: algs}
	return oidc.NewVerifier(iss, keys, &oidc.Config{
		// Each policy names its own audience, checked after verification.
		SkipClientIDCheck:    true,
		SupportedSigningAlgs: algs,
		Now:                  f.now,
	}), nil
}

// asymmetricAlgs are the algorithms a token may be signed with: public-key
// ones only. none and the HMAC ones (HS256...) would let anyone who knows
// the key set, or nothing, sign; they are refused even when an issuer
// lists them.
var asymmetricAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// signingAlgs answers the issuer's published algorithms that are
// asymmetric; RS256 when it publishes none, as OIDC Discovery prescribes.
func signingAlgs(published []string) []string {
	var algs []string
	for _, a := range published {
		if slices.Contains(asymmetricAlgs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		algs = []string{oidc.RS256}
	}
	return algs
}

// keySet is an issuer's JWKS, cached, fetched again when a token names a
// kid it does not hold but at most once per keyRefreshEvery. go-oidc's
// RemoteKeySet fetches again for every token with an unknown kid (it only
// merges concurrent fetches), so each forged token would cost the issuer a
// request; this is go-oidc's KeySet interface with that bound added.
type keySet struct {
	url  string
	fed  *Federation
	algs []string

	// fetchMu makes one fetch at a time, the others waiting for its
	// keys; mu guards keys and fetchedAt, so tokens of known keys verify
	// while a fetch is under way.
	fetchMu   sync.Mutex
	mu        sync.RWMutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time
}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	algs := make([]jose.SignatureAlgorithm, len(k.algs))
	for i, a := range k.algs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSigned(raw, algs)
	if err != nil {
		return nil, errFederation("malformed token: " + err.Error())
	}
	if len(jws.Signatures) != 1 {
		return nil, errFederation("not one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	if payload, ok := verifyWith(jws, k.cached(), kid); ok {
		return payload, nil
	}
	keys, err := k.refresh(ctx)
	if err != nil {
		return nil, err
	}
	if payload, ok := verifyWith(jws, keys, kid); ok {
		return payload, nil
	}
	return nil, errFederation("the signature does not verify with the issuer's keys")
}

func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) ([]byte, bool) {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(&keys[i]); err == nil {
			return payload, true
		}
	}
	return nil, false
}

func (k *keySet) cached() []jose.JSONWebKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys
}

// refresh fetches the key set unless it was fetched within
// keyRefreshEvery, and answers the keys held after it. Concurrent callers
// wait for one fetch.
func (k *keySet) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	k.mu.RLock()
	held, last := k.keys, k.fetchedAt
	k.mu.RUnlock()
	if !last.IsZero() && k.fed.now().Sub(last) < keyRefreshEvery {
		return held, nil
	}
	keys, err := k.fetch(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	// Counted as a fetch whatever its outcome: a failing issuer is not
	// asked again at once either.
	k.fetchedAt = k.fed.now()
	if err != nil {
		if len(k.keys) > 0 {
			return k.keys, nil // keep the keys held; the token is judged with them
		}
		return nil, err
	}
	k.keys = keys
	return keys, nil
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(fctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", k.url, err)
	}
	resp, err := k.fed.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w: %w", k.url, err, ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks %s: status %d: %w", k.url, resp.StatusCode, ErrUnavailable)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("jwks %s: %v: %w", k.url, err, ErrUnavailable)
	}
	var keys []jose.JSONWebKey
	for _, key := range set.Keys {
		if key.IsPublic() && key.Use != "enc" {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// Verified is an OIDC token that verified against its issuer.
type Verified struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
	Claims   map[string]any
}

// Verify checks an OIDC token: its issuer is allowed, its signature
// verifies with the issuer's keys and an algorithm it publishes, and iss,
// exp, nbf, iat (not in the future) and the maximum age hold.
func (f *Federation) Verify(ctx context.Context, raw string) (Verified, error) {
	if len(raw) > maxJWTLen {
		return Verified{}, errFederation("the token is too long")
	}
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return Verified{}, err
	}
	// An algorithm no issuer's key may sign with is refused before the
	// issuer is asked: such a token is a refusal (401, counted) whether
	// or not the issuer answers, not an outage (503).
	if alg, err := unverifiedAlg(raw); err != nil {
		return Verified{}, err
	} else if !slices.Contains(asymmetricAlgs, alg) {
		return Verified{}, errFederation("the token's alg " + strconv.Quote(alg) + " is not a public-key algorithm")
	}
	v, err := f.verifierFor(ctx, iss)
	if err != nil {
		return Verified{}, err
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return Verified{}, err
		}
		if _, ok := errors.AsType[errFederation](err); ok {
			return Verified{}, err
		}
		return Verified{}, errFederation(err.Error())
	}
	now := f.now()
	// go-oidc checks exp and nbf; iat is left to the relying party.
	const skew = time.Minute
	if tok.IssuedAt.IsZero() {
		if f.MaxAge > 0 {
			return Verified{}, errFederation("the token has no iat, so its age is unknown")
		}
	} else {
		if tok.IssuedAt.After(now.Add(skew)) {
			return Verified{}, errFederation("the token is issued in the future")
		}
		if f.MaxAge > 0 && now.Sub(tok.IssuedAt) > f.MaxAge {
			return Verified{}, errFederation("the token is older than the maximum age")
		}
	}
	if tok.Expiry.IsZero() {
		return Verified{}, errFederation("the token has no exp")
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		return Verified{}, errFederation("claims do not decode")
	}
	return Verified{Issuer: tok.Issuer, Subject: tok.Subject, Audience: tok.Audience, Expiry: tok.Expiry, Claims: claims}, nil
}

// unverifiedIssuer reads iss from a JWT's payload without verifying it, to
// pick the issuer to verify it with.
// unverifiedAlg reads the alg of a compact JWS's header, unverified.
func unverifiedAlg(raw string) (string, error) {
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", errFederation("the header is not base64url")
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", errFederation("the header is not JSON")
	}
	return h.Alg, nil
}

func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errFederation("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errFederation("the payload is not base64url")
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss == "" {
		return "", errFederation("the payload has no iss")
	}
	return c.Iss, nil
}

// federated authenticates username and an OIDC token: the token verifies,
// and one federated identity of an active deploy token named username
// trusts it. Any refusal is ErrDenied, logged with its reason (never the
// token); outages are ErrUnavailable.
func (a *Authenticator) federated(ctx context.Context, username, raw string) (Principal, error) {
	p, reason, err := a.exchange(ctx, username, raw)
	if reason != "" {
		if a.Logger != nil {
			a.Logger.Info("credentials refused", "kind", "oidc token", "username", username, "reason", reason)
		}
		return Principal{}, ErrDenied
	}
	return p, err
}

// exchange answers the principal, or why the token is refused, or an
// outage.
func (a *Authenticator) exchange(ctx context.Context, username, raw string) (Principal, string, error) {
	if a.Federation == nil {
		return Principal{}, "oidc federation is not enabled (no DEPLOYTOKENS_OIDC_ISSUERS)", nil
	}
	if len(username) > maxCredentialLen {
		return Principal{}, "the username is too long", nil
	}
	ids, err := tokens.FederatedIdentitiesByUsername(ctx, a.Store, username)
	if err != nil {
		return Principal{}, "", a.lookupErr(err)
	}
	// Verified whether or not the username has policies, so that a
	// refusal does the same work either way and its time does not tell
	// which usernames have them.
	v, err := a.Federation.Verify(ctx, raw)
	if err == nil && len(ids) == 0 {
		return Principal{}, "no deploy token with this username has a federated identity", nil
	}
	if err != nil {
		if why, ok := errors.AsType[errFederation](err); ok {
			return Principal{}, string(why), nil
		}
		if errors.Is(err, ErrUnavailable) {
			if a.Logger != nil {
				a.Logger.Warn("oidc issuer unavailable", "err", err)
			}
			return Principal{}, "", ErrUnavailable
		}
		return Principal{}, "", err
	}
	why := "no federated identity of the token trusts its issuer, audience and claims"
	for _, id := range ids {
		if id.Issuer != v.Issuer || !slices.Contains(v.Audience, id.Audience) {
			continue
		}
		matched, ok := id.MatchClaims(v.Claims)
		if !ok {
			continue
		}
		p, reason, err := a.federatedToken(ctx, username, id)
		if err != nil {
			return Principal{}, "", err
		}
		if reason != "" {
			why = reason
			continue
		}
		p.Until = v.Expiry
		a.auditExchange(ctx, p.Token, id, v, matched)
		return p, "", nil
	}
	return Principal{}, why, nil
}

// federatedToken answers the deploy token a matching policy is on, with
// its project or group, when it is active and still named username.
func (a *Authenticator) federatedToken(ctx context.Context, username string, id tokens.FederatedIdentity) (Principal, string, error) {
	var (
		r   tokens.DeployTokenAuth
		err error
	)
	if id.GroupID != 0 {
		r.Token, err = a.Store.GroupDeployToken(ctx, id.GroupID, id.TokenID)
		if err == nil {
			r.Group, err = a.Store.Group(ctx, id.GroupID)
		}
	} else {
		r.Token, err = a.Store.DeployToken(ctx, id.ProjectID, id.TokenID)
		if err == nil {
			r.Project, err = a.Store.Project(ctx, id.ProjectID)
		}
	}
	if errors.Is(err, tokens.ErrNotFound) {
		return Principal{}, "the policy's deploy token is gone", nil
	}
	if err != nil {
		return Principal{}, "", a.lookupErr(err)
	}
	r.Found = true
	now := a.now()
	if why := refusal(tokens.Equal(r.Token.Username, username), r.Token.Revoked, r.Token.Active(now)); why != "" {
		return Principal{}, "the policy's deploy token is " + why, nil
	}
	// No digest: the principal has no secret, so no refresh token is
	// issued to it (one would outlive the OIDC token).
	p, err := a.deployTokenPrincipal(ctx, username, nil, r, nil)
	return p, "", err
}

// auditExchange records an exchange: the token, the issuer, the subject
// and the claims that matched (never the OIDC token), in the audit trail
// (OnExchange) and the log.
func (a *Authenticator) auditExchange(ctx context.Context, t *tokens.DeployToken, id tokens.FederatedIdentity, v Verified, matched []string) {
	if a.OnExchange != nil {
		c, _ := ctx.Value(clientKey{}).(client)
		a.OnExchange(ctx, *t, v.Subject, c.addr, fmt.Sprintf("OIDC token of %s (sub %q) exchanged through federated identity %d; matched %s",
			v.Issuer, v.Subject, id.ID, strings.Join(matched, ", ")))
	}
	if a.Logger == nil {
		return
	}
	a.Logger.LogAttrs(ctx, slog.LevelInfo, "audit", slog.String("action", "oidc_exchange"),
		slog.Int64("token_id", t.ID), slog.Int64("identity_id", id.ID), slog.String("issuer", v.Issuer),
		slog.String("sub", v.Subject), slog.Any("matched", matched), slog.Time("oidc_expires_at", v.Expiry))
}

// federatedFrom is checkFrom for an OIDC token: the ban check, then the
// exchange, a refusal counted against addr as a wrong secret is.
func (a *Authenticator) federatedFrom(ctx context.Context, addr, username, raw string) (Principal, error) {
	if err := a.Limiter.Check(ctx, addr); err != nil {
		a.strikeBanned(ctx, addr, err) // as checkFrom counts a banned address's tries
		return Principal{}, err
	}
	p, err := a.federated(ctx, username, raw)
	if err != nil {
		return Principal{}, a.failed(ctx, addr, err)
	}
	return p, nil
}

package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/deploytokens/deploytokens/tokens"
)

// checkFrom authenticates username and secret presented from addr: the ban
// check (429 while addr is banned), then Check, a denial counted against
// addr. The secret is read together with the ban, in one step of the
// store (DeployTokenForAuth, PATForAuth): every pull of every layer asks
// for a token with a deploy token, so this halves the round trips of the
// busiest request. The answers and their order are the same either way.
//
// Every refusal does the same work before it is answered, so that its
// time does not tell why (issue 20, finding 6): one digest, one read of
// the secret with the ban, and one strike (KV.Strike) against addr,
// whether the secret is unknown, another's, revoked, expired or a
// blocked user's, or addr is banned; and each logs one line with its
// reason (logRefusal), an unknown secret's included.
func (a *Authenticator) checkFrom(ctx context.Context, addr, username, secret string) (Principal, error) {
	ctx = withAddr(ctx, addr)
	if a.Federation != nil && LooksLikeJWT(secret) {
		return a.federatedFrom(ctx, addr, username, secret)
	}
	if !a.readsBanWithToken(addr, username, secret) {
		if err := a.Limiter.Check(ctx, addr); err != nil {
			a.strikeBanned(ctx, addr, err)
			return Principal{}, err
		}
		p, err := a.Check(ctx, username, secret)
		if err != nil {
			return Principal{}, a.failed(ctx, addr, err)
		}
		return p, nil
	}
	digest := a.Keys.Digest(secret)
	var (
		banned bool
		ban    []byte
		decide func() (Principal, error)
	)
	if strings.HasPrefix(secret, string(tokens.DeployTokenSecret)) {
		r, err := a.Store.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: digest, Username: username, Addr: addr})
		if err != nil {
			// Neither the ban nor the token is known: not the client's fault.
			return Principal{}, storeErr(err)
		}
		banned, ban = r.Banned, r.Ban
		decide = func() (Principal, error) {
			var lookupErr error
			if !r.Found {
				lookupErr = tokens.ErrNotFound
				a.decoyDeployTokenRefusal(username)
				a.logRefusal("deploy token", 0, errUnknown)
			}
			return a.deployTokenPrincipal(ctx, username, digest, r, lookupErr)
		}
	} else {
		r, err := a.Store.PATForAuth(ctx, tokens.PATAuthQuery{Digest: digest, Addr: addr})
		if err != nil {
			return Principal{}, storeErr(err)
		}
		banned, ban = r.Banned, r.Ban
		decide = func() (Principal, error) {
			if t, u, ok := a.adminPAT(digest); ok {
				return a.patPrincipal(ctx, username, digest, t, u, nil)
			}
			var lookupErr error
			if !r.Found {
				lookupErr = tokens.ErrNotFound
				a.decoyPATRefusal(username)
				a.logRefusal("personal access token", 0, errUnknown)
			}
			return a.patPrincipal(ctx, username, digest, r.Token, r.User, lookupErr)
		}
	}
	if banned {
		if err := a.Limiter.verdict(decodeBan(ban), true); err != nil {
			a.strikeBanned(ctx, addr, err)
			a.logRefusal("credential", 0, errBannedAddr)
			return Principal{}, err
		}
	}
	p, err := decide()
	if err != nil {
		return Principal{}, a.failed(ctx, addr, err)
	}
	return p, nil
}

// The decoy records (tokens.DecoyDeployToken) as the stores read them on
// a miss. They hold no secret.
var (
	decoyToken = tokens.DecoyDeployToken()
	decoyPAT   = tokens.DecoyPAT()
	decoyUser  = tokens.DecoyUser()
)

// decoyDeployTokenRefusal makes, for an unknown deploy token secret, the
// checks deployTokenPrincipal makes of a found token (the constant-time
// compare of the username, revocation and expiry), against the decoy
// that the store read in its place, and discards the answer: for timing
// (issue 20, finding 6), as the store's read of the decoy is.
func (a *Authenticator) decoyDeployTokenRefusal(username string) {
	_ = refusal(tokens.Equal(decoyToken.Username, username), decoyToken.Revoked, decoyToken.Active(a.now()))
}

// decoyPATRefusal is decoyDeployTokenRefusal for an unknown personal
// access token: patPrincipal's checks against the decoy token and user.
func (a *Authenticator) decoyPATRefusal(username string) {
	_ = refusal(tokens.Equal(strings.ToLower(decoyUser.Username), strings.ToLower(username)), decoyPAT.Revoked, decoyPAT.Active(a.now()))
}

// Reasons of refusals that found no token to refuse: logged all the same,
// so that every refusal writes one log line.
const (
	errUnknown    = "the secret is unknown"
	errBannedAddr = "the address is banned"
)

// strikeBanned counts a request refused because addr is banned (verdict,
// a 429) as any refused credential is counted, so that it costs the same
// store work. Its answer is the 429 whatever the count; a count that
// can't be written changes nothing, the request being refused anyway.
func (a *Authenticator) strikeBanned(ctx context.Context, addr string, verdict error) {
	if de, ok := errors.AsType[*tokens.Error](verdict); !ok || de.Kind != tokens.KindLimited {
		return // not a ban: the ban could not be read
	}
	_ = a.Limiter.strike(ctx, addr)
}

// readsBanWithToken reports whether checkFrom reads the ban with the
// token: for a secret (a deploy token's or a PAT's) that Check would look
// up, when the
// limiter keeps its bans in the authenticator's store (compared as
// values: the stores are pointers, and a Limiter over another KV reads its
// bans there).
func (a *Authenticator) readsBanWithToken(addr, username, secret string) bool {
	return a.Limiter != nil && addr != "" &&
		username != "" && len(username) <= maxCredentialLen && len(secret) <= maxCredentialLen &&
		a.Limiter.KV == tokens.KV(a.Store)
}

package auth

import (
	"context"
	"strings"

	"github.com/deploytokens/deploytokens/tokens"
)

// checkFrom authenticates username and secret presented from addr: the ban
// check (429 while addr is banned), then Check, a denial counted against
// addr. A deploy token is read together with the ban, in one step of the
// store (DeployTokenForAuth): every pull of every layer asks for a token
// with a deploy token, so this halves the round trips of the busiest
// request. The answers and their order are the same either way.
func (a *Authenticator) checkFrom(ctx context.Context, addr, username, secret string) (Principal, error) {
	if a.Federation != nil && LooksLikeJWT(secret) {
		return a.federatedFrom(ctx, addr, username, secret)
	}
	if !a.readsBanWithToken(addr, username, secret) {
		if err := a.Limiter.Check(ctx, addr); err != nil {
			return Principal{}, err
		}
		p, err := a.Check(ctx, username, secret)
		if err != nil {
			return Principal{}, a.failed(ctx, addr, err)
		}
		return p, nil
	}
	digest := a.Keys.Digest(secret)
	r, err := a.Store.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: digest, Username: username, Addr: addr})
	if err != nil {
		// Neither the ban nor the token is known: not the client's fault.
		return Principal{}, storeErr(err)
	}
	if r.Banned {
		if err := a.Limiter.verdict(decodeBan(r.Ban), true); err != nil {
			return Principal{}, err
		}
	}
	var lookupErr error
	if !r.Found {
		lookupErr = tokens.ErrNotFound
	}
	p, err := a.deployTokenPrincipal(username, digest, r, lookupErr)
	if err != nil {
		return Principal{}, a.failed(ctx, addr, err)
	}
	return p, nil
}

// readsBanWithToken reports whether checkFrom reads the ban with the
// token: for a deploy token's secret that Check would look up, when the
// limiter keeps its bans in the authenticator's store (compared as
// values: the stores are pointers, and a Limiter over another KV reads its
// bans there).
func (a *Authenticator) readsBanWithToken(addr, username, secret string) bool {
	return a.Limiter != nil && addr != "" && strings.HasPrefix(secret, string(tokens.DeployTokenSecret)) &&
		username != "" && len(username) <= maxCredentialLen && len(secret) <= maxCredentialLen &&
		a.Limiter.KV == tokens.KV(a.Store)
}

package auth

import (
	"context"
	"strings"

	"github.com/deploytokens/deploytokens/tokens"
)

// banAndTokenReader is a store that reads a KV value and looks up a deploy
// token in one round trip, each answer with the error its own call would
// have answered; the Redis store is one. Every pull of every layer asks for
// a token with a deploy token, so this halves the round trips of the
// busiest request. username is the one the client sent: a store that
// caches answers only that username from memory, so that no refusal is
// quicker than a guess's.
type banAndTokenReader interface {
	DeployTokenByDigestAndGet(ctx context.Context, key string, digest []byte, username string) ([]byte, error, tokens.DeployToken, tokens.Project, error)
}

// checkFrom authenticates username and secret presented from addr: the ban
// check (429 while addr is banned), then Check, a denial counted against
// addr. Where the store can, a deploy token and the ban are read in one
// round trip; the answers and their order are the same either way.
func (a *Authenticator) checkFrom(ctx context.Context, addr, username, secret string) (Principal, error) {
	if r := a.fusedReader(addr, username, secret); r != nil {
		digest := a.Keys.Digest(secret)
		ban, banErr, t, p, err := r.DeployTokenByDigestAndGet(ctx, tokens.BanKey(addr), digest, username)
		if err := a.Limiter.verdict(ban, banErr); err != nil {
			return Principal{}, err
		}
		pr, err := a.deployTokenPrincipal(username, digest, t, p, err)
		if err != nil {
			return Principal{}, a.failed(ctx, addr, err)
		}
		return pr, nil
	}
	if err := a.Limiter.Check(ctx, addr); err != nil {
		return Principal{}, err
	}
	p, err := a.Check(ctx, username, secret)
	if err != nil {
		return Principal{}, a.failed(ctx, addr, err)
	}
	return p, nil
}

// fusedReader answers the store that reads the ban with the deploy token,
// or nil: for other secrets, for credentials Check refuses unread, without
// a ban check, or when the limiter keeps its bans in another store.
func (a *Authenticator) fusedReader(addr, username, secret string) banAndTokenReader {
	if a.Limiter == nil || addr == "" || !strings.HasPrefix(secret, string(tokens.DeployTokenSecret)) ||
		username == "" || len(username) > maxCredentialLen || len(secret) > maxCredentialLen {
		return nil
	}
	r, ok := a.Store.(banAndTokenReader)
	if !ok {
		return nil
	}
	if kv, ok := a.Limiter.KV.(banAndTokenReader); !ok || kv != r {
		return nil
	}
	return r
}

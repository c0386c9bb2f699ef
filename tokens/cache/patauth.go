package cache

import (
	"context"

	"github.com/deploytokens/deploytokens/tokens"
)

// PATForAuth answers from the Source, always: personal access tokens are
// not cached, so that blocking a user or revoking a token takes effect
// at the next request everywhere. It looks the digest and the ban up in
// memory first, as DeployTokenForAuth does, and discards what it finds,
// so that a refused PAT takes the path through the cache that a refused
// deploy token takes (which always goes on to the Source too): without
// it every PAT refusal answered some microseconds sooner than every
// deploy token refusal, which tells a guesser the kind of a secret
// (issue 20, finding 6). A PAT's digest is never a cached deploy
// token's, the two kinds' secrets differing in their prefix.
func (s *Store) PATForAuth(ctx context.Context, q tokens.PATAuthQuery) (tokens.PATAuth, error) {
	_, _, _, _ = s.mem.lookup(q.Addr, string(q.Digest))
	return s.Source.PATForAuth(ctx, q)
}

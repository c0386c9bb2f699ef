package tokens

import (
	"context"
	"time"
)

// ExpiryIndex finds deploy tokens by their expiry, so that the expiry scan
// reads the few tokens near their expiry and not every token on every
// replica at every interval.
type ExpiryIndex interface {
	// DeployTokensExpiring answers the deploy tokens, of projects and of
	// groups, that are not revoked and whose ExpiresAt lies in
	// [from, to], ordered by ExpiresAt and then ID. Its work is bounded
	// by the tokens it answers, not by all tokens: stores keep an index by
	// expiry in the same atomic step as every write that adds a token,
	// revokes it or deletes it (a rotation keeps the token's expiry), and
	// fill it once, when they open, for tokens written before it existed.
	DeployTokensExpiring(ctx context.Context, from, to time.Time) ([]DeployToken, error)
}

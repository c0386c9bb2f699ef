package tokens

import "context"

// TokenUsernames finds deploy tokens by username through an index the
// stores keep in the same atomic step as the tokens (written on create,
// dropped with the token's project or group), so that creating a user
// reads the tokens named alike, not every token.
type TokenUsernames interface {
	// DeployTokensByUsername answers the deploy tokens, of projects and
	// of groups, whose username equals username without regard to case,
	// revoked and expired ones included (a username never changes, and
	// whether a token is live is a matter of the clock, decided by the
	// caller), ordered by ID.
	DeployTokensByUsername(ctx context.Context, username string) ([]DeployToken, error)
}

package cache

import (
	"context"

	"github.com/deploytokens/deploytokens/tokens"
)

// RotateDeployToken rotates the token in the Source and empties the cache:
// a cached answer for the old secret would still take it as the current
// one, past the end of its grace (or at once, with none).
func (s *Store) RotateDeployToken(ctx context.Context, r tokens.DeployTokenRotation) (tokens.DeployToken, error) {
	defer s.mem.invalidate()
	return s.Source.RotateDeployToken(ctx, r)
}

package cache

import (
	"context"

	"github.com/deploytokens/deploytokens/tokens"
)

// RecordLastUses writes the batch to the Source and, once written, to the
// cached tokens, so that what the cache answers shows it too.
func (s *Store) RecordLastUses(ctx context.Context, uses []tokens.LastUse) error {
	err := s.Source.RecordLastUses(ctx, uses)
	if err == nil {
		for i := range uses {
			if uses[i].DeployToken {
				s.mem.touched(uses[i].ID, uses[i].At)
			}
		}
	}
	return err
}

package redisstore

import (
	"context"

	"github.com/deploytokens/deploytokens/tokens"
)

// PageGroups answers a page of every group: a ZRANGE by position on gs,
// whose scores are the IDs, and its ZCARD in the same transaction.
func (s *Store) PageGroups(ctx context.Context, p tokens.Page) ([]tokens.Group, int, error) {
	return pageRecords(ctx, s, "list groups", s.key("gs"), "g", p, decodeGroup)
}

package boltstore

import (
	"context"

	"github.com/deploytokens/deploytokens/tokens"
)

// PageGroups answers a page of every group. The total is the kept count;
// the page walks the group keys up to it (bbolt has no rank index), which
// decodes only the records of the page.
func (s *Store) PageGroups(ctx context.Context, p tokens.Page) ([]tokens.Group, int, error) {
	return pageRecords[tokens.Group](s, "list groups", bGroups, nil, bGroups, p)
}

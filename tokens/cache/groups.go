package cache

import "context"

// RevokeGroupDeployToken revokes the group's token in the Source and
// empties the cache, as RevokeDeployToken does.
func (s *Store) RevokeGroupDeployToken(ctx context.Context, groupID, id int64) error {
	defer s.mem.invalidate()
	return s.Source.RevokeGroupDeployToken(ctx, groupID, id)
}

// DeleteGroup deletes the group, and with it its deploy tokens, in the
// Source and empties the cache, as DeleteProject does.
func (s *Store) DeleteGroup(ctx context.Context, id int64) error {
	defer s.mem.invalidate()
	return s.Source.DeleteGroup(ctx, id)
}

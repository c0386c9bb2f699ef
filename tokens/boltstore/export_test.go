package boltstore

// NoSync reports whether the open DB skips fsync after each commit.
func (s *Store) NoSync() bool { return s.db.NoSync }

package boltstore

// SetBulkBatch makes the bulk loaders send n records per batch until the
// returned function restores the default, so tests cross batch boundaries
// with few records.
func SetBulkBatch(n int) (restore func()) {
	old := bulkBatch
	bulkBatch = n
	return func() { bulkBatch = old }
}

// NoSync reports whether the open DB skips fsync after each commit.
func (s *Store) NoSync() bool { return s.db.NoSync }

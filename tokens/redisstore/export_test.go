package redisstore

// SetBulkBatch makes the bulk loaders send n records per batch until the
// returned function restores the default, so tests cross batch boundaries
// with few records.
func SetBulkBatch(n int) (restore func()) {
	old := bulkBatch
	bulkBatch = n
	return func() { bulkBatch = old }
}

// CacheLen answers how many tokens and KV values s's cache holds.
func CacheLen(s *Store) (tokens, values int) {
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	return len(s.cache.tokens), len(s.cache.values)
}

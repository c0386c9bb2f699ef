package redisstore

// CacheLen answers how many tokens and KV values s's cache holds.
func CacheLen(s *Store) (tokens, values int) {
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	return len(s.cache.tokens), len(s.cache.values)
}

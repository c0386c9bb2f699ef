package cache

// Len answers how many tokens and bans s holds.
func Len(s *Store) (tokens, bans int) {
	s.mem.mu.RLock()
	defer s.mem.mu.RUnlock()
	return len(s.mem.tokens), len(s.mem.bans)
}

// Lookups answers how many times s looked a digest up in memory.
func Lookups(s *Store) uint64 { return s.mem.lookups.Load() }

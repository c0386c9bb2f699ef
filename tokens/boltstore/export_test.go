package boltstore

// NoSync reports whether the open DB skips fsync after each commit.
func (s *Store) NoSync() bool { return s.db.NoSync }

// Ops answers the read transactions begun and the keys and records the
// paged reads stepped over, since the store was opened.
func (s *Store) Ops() (txs, steps int64) { return s.ops.txs.Load(), s.ops.steps.Load() }

package redisstore

// SetBulkBatch makes the bulk loaders send n records per batch until the
// returned function restores the default, so tests cross batch boundaries
// with few records.
func SetBulkBatch(n int) (restore func()) {
	old := bulkBatch
	bulkBatch = n
	return func() { bulkBatch = old }
}

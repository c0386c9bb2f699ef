// Package boltstore is the embedded tokens.Store for a single node: every
// record lives in one bbolt file (for example <data dir>/deploytokens.db,
// mode 0600) that only one process may open at a time.
//
// It owns the file's buckets and the encoding of records (JSON of the
// deploy types, indexes keyed by big-endian IDs so cursors list in ID
// order). Every write is one bolt Update transaction, synced to disk before
// the call returns, so an acknowledged write survives a crash; reads are
// View transactions and never block writers. Usernames and project paths
// are indexed in lower case; KV values carry their expiry, an expired value
// reads as absent and a background sweep deletes it.
//
// The store does not decide who may do what (package tokens does) and never
// sees a plaintext secret.
package boltstore

// Package boltstore is the embedded tokens.Store for a single node: every
// record lives in one bbolt file (for example <data dir>/deploytokens.db,
// mode 0600) that only one process may open at a time.
//
// It owns the file's buckets and the encoding of records. A record is the
// JSON of one of the package's own record types (records.go), converted
// to and from the domain types of package tokens, so the domain's JSON tags
// are not the file format: a file written by an earlier release reads the
// same after the domain changes (TestFixture reads the files in
// testdata/boltstore, TestFileFormat pins the bytes of each record kind).
// Indexes are keyed by big-endian IDs so cursors list in ID order. Every
// write is one bolt Update transaction, synced to disk before the call
// returns, so an acknowledged write survives a crash; reads are View
// transactions and never block writers. Usernames, project paths and
// groups' full paths are indexed in lower case; KV values carry their expiry, an expired value
// reads as absent and a background sweep deletes it.
//
// The store does not decide who may do what (package tokens does) and never
// sees a plaintext secret.
package boltstore

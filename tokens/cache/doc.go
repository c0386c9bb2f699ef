// Package cache is the replica cache of the hot path: a tokens.Store that
// wraps another (a Source) and answers DeployTokenForAuth from process
// memory for a deploy token used recently, so that most pulls cost no
// round trip to the shared store.
//
// It owns which answers are kept, for how long, and when they are
// dropped; it learns of writes made through other replicas from the
// Source's generation, which the Source must change with every write
// that can change a cached answer (Source says which). Every other method
// goes to the Source unchanged. It knows nothing of Redis, of how a ban
// is encoded, or of what a token may do.
package cache

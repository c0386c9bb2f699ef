// Package tokens owns the domain of deploytokens: users, personal access
// tokens, projects, members and deploy tokens with their federated
// identities (OIDC trust policies), the rules for managing them
// (who may, validation, expiry, revocation), the secrets themselves (their
// generation with a recognizable prefix per kind, the keyed digest under
// which they are stored and found, the encryption of the CI token, and
// Secret, a string type that redacts itself in logs and JSON), and the
// Store interface. Its backends and their one conformance suite live in the
// subpackages redisstore, boltstore and storetest; the replica cache, a
// Store that wraps another, in cache.
//
// It knows nothing of HTTP: errors are domain errors (see Error), and the
// surfaces under internal/ turn them into responses. It does not decide
// registry or git access (package auth does) and never sees signing keys.
package tokens

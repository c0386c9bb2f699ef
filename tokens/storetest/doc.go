// Package storetest is the one conformance suite of tokens.Store. Every
// backend's test file calls Run with a function that opens an empty store;
// a behaviour of the Store contract is specified here, once, and not in
// the backends' own tests.
//
// The suite stores stand-in digests (SHA-256 of a test secret): it tests
// storage, not the keyed digest of package tokens. It must not depend on a
// backend, so it only uses package tokens and the optional Dumper.
package storetest

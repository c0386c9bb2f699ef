// Package deploy owns the domain of deploytokens: users, personal access
// tokens, projects, members and deploy tokens, the rules for managing them
// (who may, validation, expiry, revocation), the Store interface with its
// backends and conformance suite (subpackages), and the maintainers' REST
// API and web pages (subpackages api and web).
//
// It does not generate or hash secrets (package tokens does), does not decide
// registry or git access (package auth does) and never sees signing keys.
package deploy

// Package tokens owns the secrets themselves: their generation with a
// recognizable prefix per kind, the keyed digest under which they are stored
// and found, the encryption of the CI token, and Secret, a string type that
// redacts itself in logs and JSON.
//
// It is pure: no I/O, no storage, no HTTP. Callers keep the server secret.
package tokens

// Package jwks owns the keys that sign registry bearer tokens: their
// generation, storage and rotation, the forms of their key ID (kid), their
// export as a JSON Web Key Set and as a certificate bundle, and the signing of
// a JWT with the active key. JWKs and RFC 7638 thumbprints are go-jose's
// (the library distribution v3 reads the JWKS with); tokens are signed with
// golang-jwt.
//
// A Manager keeps the whole key set (private keys, certificates and dates) as
// one JSON value in a KeyStore, so every replica sharing a store signs with
// the same active key and publishes the same set; the first replica to start
// creates it with a compare-and-swap, and a rotation is a compare-and-swap
// from the old set to the new one. A small typed store over the KeyStore
// owns that JSON and the bytes each swap starts from. Replicas notice
// another's rotation when they refresh (Run, Refresh); signing never touches
// the store. Instead of a store a Manager can use one fixed key from a PEM
// file.
//
// In ModeX5C the stored set also holds a root key with a CA certificate
// that never expires, and its keys are leaves whose certificates the root
// issues, lasting a bit more than Config.KeyRotation plus a token's
// lifetime; each token carries its leaf's certificate in x5c. The registry
// is given the root once (rootcertbundle) and checks each leaf against it,
// so leaves rotate, on a schedule (Run, RotateIfDue) or on demand, with no
// registry change. It is kept under its own store key, apart from
// ModeJWKS's set. ModeJWKS (every key exported, as below) stays the
// default because a registry with only a jwks refuses tokens with x5c.
//
// How the CNCF distribution registry finds the key that signed a token, and
// so which export and kid form to configure:
//
//   - distribution v3 with auth.token.rootcertbundle holding the root
//     (ModeX5C): the x5c chain is verified against it and the leaf's key
//     verifies the token, whatever the kid.
//   - distribution v3 with auth.token.jwks: the kid of the token is looked up
//     in the exported JWKS as written, so either kid form works.
//   - distribution v3 with auth.token.rootcertbundle: without x5c the registry
//     computes a JWK thumbprint of each certificate's key; KidThumbprint is
//     that value. It drops leading zero bytes of EC coordinates, unlike RFC
//     7638, so generated P-256 keys are drawn with full-length coordinates
//     (then both agree) and a key file's kid follows the registry.
//   - distribution 2.x and the GitLab container registry (rootcertbundle
//     only): they look the kid up as a libtrust key ID, so use KidLibtrust
//     (with ES256 or RS256: libtrust knows no Ed25519).
//   - X5C sends the key's self-signed certificate in the header; registries
//     then verify it against rootcertbundle whatever the kid, and reject it
//     when they have only a JWKS.
//
// The package does not decide who may have a token or what it grants
// (package auth does), knows nothing of the domain records, and reaches the
// store only through KeyStore.
package jwks

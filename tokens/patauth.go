package tokens

import "context"

// PATAuthStore reads what authenticating a personal access token needs.
type PATAuthStore interface {
	// PATForAuth reads, in one step (one round trip, one transaction),
	// the token q.Digest finds with its user, as PATByDigest answers
	// them, and the ban of q.Addr, as Get(BanKey(q.Addr)) answers it
	// (none read when q.Addr is ""). It is DeployTokenForAuth's
	// counterpart, so that a refused PAT costs the same store work as a
	// refused deploy token and a refusal's time does not tell which it
	// was. Not finding the token is an answer (Found false); an error
	// means neither half is known.
	PATForAuth(ctx context.Context, q PATAuthQuery) (PATAuth, error)
}

// PATAuthQuery is what a client presented with a personal access token.
type PATAuthQuery struct {
	// Digest is the keyed digest of the secret.
	Digest []byte
	// Addr is the client address whose ban is read; "" reads none.
	Addr string
}

// PATAuth is what PATForAuth answers.
type PATAuth struct {
	// Banned reports whether the address has a ban; Ban is its value.
	Banned bool
	Ban    []byte
	// Found reports whether the digest is a token whose user exists;
	// Token and User are set only then. A revoked or expired token, or
	// a blocked user's, is found.
	Found bool
	Token PersonalAccessToken
	User  User
}

package tokens

import (
	"crypto/sha256"
	"time"
)

// The decoy records: a synthetic deploy token with its project and a
// synthetic personal access token with its user, of the size of typical
// ones. A store writes them once, when it opens, under keys of their own
// that no index, list, count or lookup by ID reaches, and reads and
// decodes them when a digest of DeployTokenForAuth or PATForAuth is
// unknown, then answers Found=false as before. The authenticator compares
// the request's username against them as it does against a found token.
// Both are for timing (issue 20, finding 6): without them an unknown
// secret is answered sooner than a revoked or expired one, or one given
// with another's username, and the difference tells a guesser that a
// secret exists.
//
// They hold no secret: their digests are SHA-256 of fixed labels, not the
// keyed digest of any secret, and no index maps them to the records, so
// no credential ever resolves to a decoy.

// decoyCreated is fixed so that every replica writes the same records.
var decoyCreated = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func decoyDigest(label string) []byte {
	d := sha256.Sum256([]byte("deploytokens decoy " + label))
	return d[:]
}

// DecoyDeployToken answers the decoy deploy token (see the decoy records
// above): not revoked, without expiry, owned by DecoyProject.
func DecoyDeployToken() DeployToken {
	return DeployToken{
		Name:      "decoy deploy token",
		Username:  DefaultDeployTokenUsername(100000),
		Scopes:    []string{ScopeReadRegistry, ScopeReadRepository},
		CreatedAt: decoyCreated,
		CreatorID: 1,
		Digest:    decoyDigest("deploy token"),
	}
}

// DecoyProject answers the project of DecoyDeployToken.
func DecoyProject() Project {
	return Project{
		Path:              "decoy",
		Name:              "decoy",
		PathWithNamespace: "deploytokens-decoy/decoy",
		Visibility:        Private,
		CreatorID:         1,
		CreatedAt:         decoyCreated,
	}
}

// DecoyPAT answers the decoy personal access token, owned by DecoyUser.
func DecoyPAT() PersonalAccessToken {
	return PersonalAccessToken{
		Name:      "decoy personal access token",
		Scopes:    []string{ScopeReadRegistry, ScopeReadRepository},
		CreatedAt: decoyCreated,
		Digest:    decoyDigest("personal access token"),
	}
}

// DecoyUser answers the user of DecoyPAT.
func DecoyUser() User {
	return User{Username: "deploytokens-decoy", Name: "Decoy User", CreatedAt: decoyCreated}
}

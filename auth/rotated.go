package auth

import (
	"crypto/subtle"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// errGraceOver is why a deploy token's previous secret is refused once the
// grace of its rotation has ended. The store still finds the token by
// that digest until the next rotation (its index is kept so that the
// lookup stays one round trip whatever the clock), so the end of the
// grace is decided here, on the server's clock.
const errGraceOver = "a rotated secret past its grace"

// rotatedRefusal says why the secret with digest is refused although the
// store found t by it, or "": the current secret, or the previous one in
// its grace. Anything else (an index the store has not dropped yet) is
// refused.
func rotatedRefusal(t *tokens.DeployToken, digest []byte, now time.Time) string {
	if subtle.ConstantTimeCompare(digest, t.Digest) == 1 {
		return ""
	}
	if t.MatchesPrevious(digest) && t.InGrace(now) {
		return ""
	}
	return errGraceOver
}

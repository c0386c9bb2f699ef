package api

import (
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// lastUseJSON is what a deploy token answers beyond GitLab's fields: its
// last use by either secret (last_used_at, as GitLab names it on other
// tokens, with last_used_ip), when it was last rotated, and while a
// rotation's grace lasts, the previous secret: when it stops working and
// its own last use since the rotation, so an operator sees when it has
// gone quiet.
type lastUseJSON struct {
	LastUsedAt     *string             `json:"last_used_at"`
	LastUsedIP     *string             `json:"last_used_ip"`
	RotatedAt      *string             `json:"rotated_at,omitempty"`
	PreviousSecret *previousSecretJSON `json:"previous_secret,omitempty"`
}

type previousSecretJSON struct {
	ExpiresAt  *string `json:"expires_at"`
	LastUsedAt *string `json:"last_used_at"`
	LastUsedIP *string `json:"last_used_ip"`
}

func deployTokenLastUse(t *tokens.DeployToken, now time.Time) lastUseJSON {
	j := lastUseJSON{LastUsedAt: rfc3339(t.LastUsedAt), LastUsedIP: optional(t.LastUsedIP), RotatedAt: rfc3339(t.RotatedAt)}
	if t.InGrace(now) {
		j.PreviousSecret = &previousSecretJSON{ExpiresAt: rfc3339(t.PrevUntil), LastUsedAt: rfc3339(t.PrevLastUsedAt), LastUsedIP: optional(t.PrevLastUsedIP)}
	}
	return j
}

// optional answers nil for "", so an unknown value is JSON null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

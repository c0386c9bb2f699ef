package tokens

import (
	"context"
	"crypto/subtle"
	"time"
)

// Last use: every deploy token and PAT records when, from which address
// and with which user agent it was last used, so operators find unused
// credentials and see when a rotated secret has gone quiet. Writes leave
// the request path: package auth coalesces them in memory and writes them
// in batches (see auth/touch.go).

// LastUse is one credential's last use, as a batch records it.
type LastUse struct {
	// DeployToken tells a deploy token's ID from a PAT's.
	DeployToken bool
	ID          int64
	// At, IP and Agent are the credential's last use by any of its
	// secrets.
	At        time.Time
	IP, Agent string
	// PrevAt, when set, is the last use of a deploy token's previous
	// secret (PrevDigest), with its PrevIP and PrevAgent; recorded only
	// while the token's previous secret is still that one.
	PrevAt            *time.Time
	PrevIP, PrevAgent string
	PrevDigest        []byte
}

// LastUses stores last uses.
type LastUses interface {
	// RecordLastUses writes uses in one step (one round trip, one
	// transaction): each sets its credential's LastUsedAt, LastUsedIP and
	// LastUsedAgent, and for a deploy token whose PrevDigest is still
	// u.PrevDigest, its PrevLastUsed fields when u.PrevAt is set. A
	// credential gone meanwhile is skipped, not an error.
	RecordLastUses(ctx context.Context, uses []LastUse) error
}

// ApplyLastUse sets u on t as every store does: the one description of a
// deploy token's last-use fields.
func ApplyLastUse(t *DeployToken, u *LastUse) {
	at := u.At
	t.LastUsedAt, t.LastUsedIP, t.LastUsedAgent = &at, u.IP, u.Agent
	if u.PrevAt != nil && len(t.PrevDigest) > 0 && subtle.ConstantTimeCompare(t.PrevDigest, u.PrevDigest) == 1 {
		prev := *u.PrevAt
		t.PrevLastUsedAt, t.PrevLastUsedIP, t.PrevLastUsedAgent = &prev, u.PrevIP, u.PrevAgent
	}
}

// ApplyPATLastUse sets u on t as every store does.
func ApplyPATLastUse(t *PersonalAccessToken, u *LastUse) {
	at := u.At
	t.LastUsedAt, t.LastUsedIP, t.LastUsedAgent = &at, u.IP, u.Agent
}

// UnusedFor keeps the tokens of ts unused for at least d at now: last used
// (by any secret) before now - d, or never used and created before it. A
// token made yesterday is not "unused for 90 days", whatever its use.
func UnusedFor(ts []DeployToken, d time.Duration, now time.Time) []DeployToken {
	cutoff := now.Add(-d)
	out := make([]DeployToken, 0, len(ts))
	for _, t := range ts {
		last := t.CreatedAt
		if t.LastUsedAt != nil {
			last = *t.LastUsedAt
		}
		if !last.After(cutoff) {
			out = append(out, t)
		}
	}
	return out
}

// UnusedDeployTokens answers the deploy tokens of a project (ref), of a
// group (groupRef), or every one (both "", admins only) unused for d
// (UnusedFor), only active ones with activeOnly, as the lists answer
// them: read whole, then filtered, since last use has no index.
func (s *Service) UnusedDeployTokens(ctx context.Context, a *Actor, ref, groupRef string, activeOnly bool, d time.Duration) ([]DeployToken, error) {
	var (
		ts  []DeployToken
		err error
	)
	switch {
	case ref != "":
		ts, err = s.ListDeployTokens(ctx, a, ref, activeOnly)
	case groupRef != "":
		ts, err = s.ListGroupDeployTokens(ctx, a, groupRef, activeOnly)
	default:
		ts, err = s.ListAllDeployTokens(ctx, a, activeOnly)
	}
	if err != nil {
		return nil, err
	}
	return UnusedFor(ts, d, s.Clock()), nil
}

package tokens

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Rotation with overlap: rotating a deploy token gives it a new secret and
// keeps the one it replaces working for a grace period, so consumers can
// move over without downtime (Harbor and Quay regenerate destructively).
// Both secrets are the same record, so they share the token's ID, scopes,
// expiry, username and revocation; the record keeps the previous secret's
// digest with the end of its grace, and the stores index both digests, so
// authenticating with either is the same one round trip. A token has at
// most one previous secret: rotating again during a grace ends the older
// one at once.

// Rotation is what a deploy token keeps of the secret its last rotation
// replaced.
type Rotation struct {
	// RotatedAt is when the token was last rotated; nil when never.
	RotatedAt *time.Time `json:"rotated_at,omitempty"`
	// PrevDigest is the digest of the previous secret, which keeps working
	// until PrevUntil; empty when there is none (never rotated, or rotated
	// with no grace).
	PrevDigest []byte     `json:"prev_digest,omitempty"`
	PrevUntil  *time.Time `json:"prev_until,omitempty"`
	// PrevLastUsedAt, PrevLastUsedIP and PrevLastUsedAgent are the last
	// use of the previous secret since the rotation, so an operator sees
	// when it has gone quiet; LastUsedAt and its fields cover both.
	PrevLastUsedAt    *time.Time `json:"prev_last_used_at,omitempty"`
	PrevLastUsedIP    string     `json:"prev_last_used_ip,omitempty"`
	PrevLastUsedAgent string     `json:"prev_last_used_agent,omitempty"`
}

// InGrace reports whether the previous secret still works at now.
func (r *Rotation) InGrace(now time.Time) bool {
	return len(r.PrevDigest) > 0 && r.PrevUntil != nil && now.Before(*r.PrevUntil)
}

// MatchesPrevious reports whether digest is the previous secret's (in
// constant time), whatever its grace.
func (r *Rotation) MatchesPrevious(digest []byte) bool {
	return len(r.PrevDigest) > 0 && subtle.ConstantTimeCompare(digest, r.PrevDigest) == 1
}

// DeployTokenRotation is a rotation a store makes in one atomic step.
type DeployTokenRotation struct {
	// ProjectID or GroupID (exactly one non-zero) owns token ID.
	ProjectID, GroupID, ID int64
	// Digest is the new secret's; CISecret replaces the sealed CI secret
	// (nil for a token that is not the CI token).
	Digest, CISecret []byte
	// At is when the rotation happens; PrevUntil, when set, is the end of
	// the replaced secret's grace. Without it the replaced secret stops
	// at once.
	At        time.Time
	PrevUntil *time.Time
}

// Rotations stores rotations of deploy tokens.
type Rotations interface {
	// RotateDeployToken, in one atomic step: drops the index of the
	// token's previous secret (if any), makes its current digest the
	// previous one with r.PrevUntil (or drops its index too when
	// r.PrevUntil is nil), stores r.Digest (indexed: DeployTokenForAuth
	// finds the token by it, and by the previous digest while the record
	// keeps it) and r.CISecret, sets RotatedAt, clears the previous
	// secret's last use, and answers the token. ErrNotFound when the
	// owner holds no token r.ID, ErrConflict when it is revoked or the
	// new digest is taken. It changes what DeployTokenForAuth answers, so
	// a Source of package cache changes its generation with it.
	RotateDeployToken(ctx context.Context, r DeployTokenRotation) (DeployToken, error)
	// RotatePATWithGrace is RotatePAT keeping the old token working until
	// oldUntil: in one atomic step it revokes the token the old one was
	// rotated from (its PreviousID, still in its grace: a user has at most
	// one previous secret per token), sets the old token's ExpiresAt to
	// oldUntil, or revokes it when oldUntil is zero, and creates t (whose
	// PreviousID the caller sets to oldID when oldUntil is not zero).
	// Errors as RotatePAT's.
	RotatePATWithGrace(ctx context.Context, oldID int64, t *PersonalAccessToken, oldUntil time.Time) error
}

// DefaultRotationGrace is how long a replaced secret keeps working when
// the caller does not say: a day, time for consumers updated daily.
const DefaultRotationGrace = 24 * time.Hour

// ParseGrace reads a rotation's grace period (field names it in errors):
// "" is DefaultRotationGrace, otherwise as ParseDuration, at most max.
func ParseGrace(field, v string, max time.Duration) (time.Duration, error) {
	if strings.TrimSpace(v) == "" {
		return DefaultRotationGrace, nil
	}
	if max <= 0 || max > maxDuration {
		max = maxDuration
	}
	return parseDuration(field, v, max)
}

// ParseDuration reads a non-negative duration a client sent: a bare
// number of seconds (as GitLab's integer durations), a Go duration
// ("30m", "24h", "1h30m") or a number of days ("90d", which Go's
// durations lack and which is how people count a token's idleness).
func ParseDuration(field, v string) (time.Duration, error) {
	return parseDuration(field, v, maxDuration)
}

// durationRe is what looks like a duration, in range or not: a number of
// seconds or days, or a Go duration (which time.ParseDuration refuses
// when it overflows).
var durationRe = regexp.MustCompile(`^-?(\d+d?|([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+)$`)

// parseDuration is ParseDuration up to max, one message for every value
// outside the range, however large.
func parseDuration(field, v string, max time.Duration) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 32 || !durationRe.MatchString(v) {
		return 0, Invalid(field, "is not a duration (seconds, like 3600, or with a unit, like 30m, 24h or 90d)")
	}
	outside := Invalid(field, "must be between 0 and %s", durationText(max))
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(max/time.Second) {
			return 0, outside
		}
		d = time.Duration(n) * time.Second
	} else if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > int64(max/(24*time.Hour)) {
			return 0, outside
		}
		d = time.Duration(n) * 24 * time.Hour
	} else if d, err = time.ParseDuration(v); err != nil {
		return 0, outside // it looks like one: too large for a duration
	}
	if d < 0 || d > max {
		return 0, outside
	}
	return d, nil
}

// durationText writes d as people write a bound: 168h, 90m, 30s.
func durationText(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// maxDuration bounds what ParseDuration accepts: ten years, far past any
// grace or idleness anyone means, and far from overflowing.
const maxDuration = 10 * 365 * 24 * time.Hour

// RotateDeployToken gives a project's deploy token a new secret, keeping
// the old one working for grace (ParseGrace: "" is a day, "0" stops it at
// once); maintainers,
// owners and admins only, as for create. The secret is answered once.
func (s *Service) RotateDeployToken(ctx context.Context, a *Actor, ref string, id int64, grace string) (DeployToken, Secret, error) {
	p, _, err := s.ProjectFor(ctx, a, ref, Maintainer)
	if err != nil {
		return DeployToken{}, "", err
	}
	d, err := ParseGrace("grace", grace, s.RotationMaxGrace)
	if err != nil {
		return DeployToken{}, "", err
	}
	t, secret, err := s.rotateDeployToken(ctx, DeployTokenRotation{ProjectID: p.ID, ID: id}, d)
	if err != nil {
		return DeployToken{}, "", err
	}
	s.log().InfoContext(ctx, "deploy token rotated", "project", p.PathWithNamespace, "token_id", t.ID, "grace", d.String(), "by", a.User.Username)
	s.EmitDeployTokenRotated(ctx, a, t, p.PathWithNamespace)
	return t, secret, nil
}

// RotateGroupDeployToken is RotateDeployToken for a group's token.
func (s *Service) RotateGroupDeployToken(ctx context.Context, a *Actor, ref string, id int64, grace string) (DeployToken, Secret, error) {
	g, _, err := s.GroupFor(ctx, a, ref, Maintainer)
	if err != nil {
		return DeployToken{}, "", err
	}
	d, err := ParseGrace("grace", grace, s.RotationMaxGrace)
	if err != nil {
		return DeployToken{}, "", err
	}
	t, secret, err := s.rotateDeployToken(ctx, DeployTokenRotation{GroupID: g.ID, ID: id}, d)
	if err != nil {
		return DeployToken{}, "", err
	}
	s.log().InfoContext(ctx, "deploy token rotated", "group", g.FullPath, "token_id", t.ID, "grace", d.String(), "by", a.User.Username)
	s.EmitDeployTokenRotated(ctx, a, t, g.FullPath)
	return t, secret, nil
}

// errRotateInactiveToken answers a rotation of a revoked or expired deploy
// token: a new secret for a token that works for nobody would mislead.
var errRotateInactiveToken = &Error{Kind: KindInvalid, Message: "deploy token is revoked or expired: only an active token can be rotated"}

func (s *Service) rotateDeployToken(ctx context.Context, r DeployTokenRotation, grace time.Duration) (DeployToken, Secret, error) {
	var (
		old DeployToken
		err error
	)
	if r.GroupID != 0 {
		old, err = s.Store.GroupDeployToken(ctx, r.GroupID, r.ID)
	} else {
		old, err = s.Store.DeployToken(ctx, r.ProjectID, r.ID)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return DeployToken{}, "", ErrTokenNotFound
	case err != nil:
		return DeployToken{}, "", err
	}
	r.At = s.Clock()
	if !old.Active(r.At) {
		return DeployToken{}, "", errRotateInactiveToken
	}
	if grace > 0 {
		until := r.At.Add(grace)
		r.PrevUntil = &until
	}
	secret, err := Generate(DeployTokenSecret)
	if err != nil {
		return DeployToken{}, "", err
	}
	r.Digest = s.Keys.Digest(secret.Reveal())
	if old.IsCIToken() {
		// CI is handed the new secret from now on, sealed to its digest
		// as at creation.
		if r.CISecret, err = s.Keys.Seal(secret, string(r.Digest)); err != nil {
			return DeployToken{}, "", err
		}
	}
	t, err := s.Store.RotateDeployToken(ctx, r)
	switch {
	case errors.Is(err, ErrNotFound):
		return DeployToken{}, "", ErrTokenNotFound
	case errors.Is(err, ErrConflict):
		return DeployToken{}, "", errRotateInactiveToken // revoked meanwhile
	case err != nil:
		return DeployToken{}, "", fmt.Errorf("rotate deploy token: %w", err)
	}
	return t, secret, nil
}

// RotateDeployTokenRecord applies r to t as every store does: the one
// description of a rotation's effect on the record.
func RotateDeployTokenRecord(t *DeployToken, r DeployTokenRotation) {
	at := r.At
	t.RotatedAt = &at
	t.PrevDigest, t.PrevUntil = nil, nil
	if r.PrevUntil != nil {
		until := *r.PrevUntil
		t.PrevDigest, t.PrevUntil = t.Digest, &until
	}
	t.PrevLastUsedAt, t.PrevLastUsedIP, t.PrevLastUsedAgent = nil, "", ""
	t.Digest = r.Digest
	t.CISecret = r.CISecret
}

// revokePrevious revokes the token t was rotated from while that one's
// grace lasts: revoking a PAT stops both its secrets, as revoking a
// deploy token does. A second write, after t's own: should it fail, the
// previous token still ends with its grace, which the log says.
func (s *Service) revokePrevious(ctx context.Context, a *Actor, t *PersonalAccessToken) error {
	if t.PreviousID == 0 {
		return nil
	}
	prev, err := s.Store.PAT(ctx, t.PreviousID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case prev.Revoked || !prev.Active(s.Clock()):
		return nil
	}
	// An error (a 503 saying the write may not have been kept) fails the
	// revocation, so the client retries it, and the retry comes here again.
	if err := s.Store.RevokePAT(ctx, prev.ID); err != nil {
		return fmt.Errorf("revoke the token %d was rotated from: %w", t.ID, err)
	}
	s.log().InfoContext(ctx, "personal access token revoked", "token_id", prev.ID, "user_id", prev.UserID, "rotated_into", t.ID, "by", a.User.Username)
	return nil
}

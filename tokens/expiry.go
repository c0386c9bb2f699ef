package tokens

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// expiryStages are the warnings ahead of a deploy token's expiry, the
// nearest last: GitLab's 60, 30 and 7 days.
var expiryStages = []struct {
	lead     time.Duration
	interval string
}{
	{60 * 24 * time.Hour, "60d"},
	{30 * 24 * time.Hour, "30d"},
	{7 * 24 * time.Hour, "7d"},
}

// ScanExpiring records, for every live deploy token of projects and
// groups, the expiry warning it has reached and its expiry once it is
// past: each once (a marker set in the same atomic step as the event, so
// of replicas scanning at once exactly one records it), and only the
// nearest stage (a token created 5 days before its expiry warns "7d"
// once, not three times). It answers how many events it recorded.
//
// It reads only the tokens whose expiry falls within the first warning's
// lead from now, and those that expired since the last complete scan (of
// any replica: the time it ran at is kept in the KV), by range of the
// store's expiry index, so its work grows with the tokens near their
// expiry, not with all tokens. A token that expired before the last scan
// has had its "expired" event already: expiries are in the future when
// tokens are created.
func (s *Service) ScanExpiring(ctx context.Context) (int, error) {
	now := s.Clock()
	since, sinceRaw, err := s.expiryScanSince(ctx)
	if err != nil {
		return 0, err
	}
	// expiryScanSlack widens the range back: replicas' clocks differ a
	// little, and the markers make reading a token twice harmless.
	from := time.Time{}
	if !since.IsZero() {
		from = since
		if now.Before(from) { // a clock set back
			from = now
		}
		from = from.Add(-expiryScanSlack)
	}
	ts, err := s.Store.DeployTokensExpiring(ctx, from, now.Add(expiryStages[0].lead))
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range ts {
		t := &ts[i]
		if t.Revoked || t.ExpiresAt == nil {
			continue
		}
		name, interval := "", ""
		if t.Expired(now) {
			name = EventDeployTokenExpired
		} else {
			for _, st := range expiryStages {
				if !now.Before(t.ExpiresAt.Add(-st.lead)) {
					name, interval = EventDeployTokenExpiring, st.interval
				}
			}
		}
		if name == "" {
			continue
		}
		path, err := s.tokenOwnerPath(ctx, t)
		if errors.Is(err, ErrNotFound) {
			continue // its project or group was deleted meanwhile
		} else if err != nil {
			return n, err
		}
		ev := tokenEvent(name, nil, t, path)
		ev.Interval, ev.AuthorName = interval, "deploytokens"
		if interval != "" {
			ev.Message = "expires in " + interval + " or less, at " + t.ExpiresAt.UTC().Format(time.RFC3339)
		}
		// Past the last warning, "expired" is the only stage left, so
		// the markers of one token are at most four.
		ev.Once = fmt.Sprintf("expiry:%d:%s", t.ID, stageName(name, interval))
		switch err := s.emit(ctx, ev); {
		case err == nil:
			n++
		case onceTaken(err):
		default:
			return n, err
		}
	}
	return n, s.recordExpiryScan(ctx, sinceRaw, now)
}

// expiryScanSlack is how far before the last scan's time a scan reads: a
// day covers any clock skew between replicas worth the name, and the
// tokens that expired in a day are far fewer than the 60 days ahead.
const expiryScanSlack = 24 * time.Hour

// expiryScanSince answers the time the last complete scan ran at
// (zero when none did: then every expired token is read, once) and the
// raw value it was read from, for the compare-and-swap that advances it.
func (s *Service) expiryScanSince(ctx context.Context) (time.Time, []byte, error) {
	raw, err := s.Store.Get(ctx, expiryScanKey)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, nil, nil
	} else if err != nil {
		return time.Time{}, nil, fmt.Errorf("read the last expiry scan: %w", err)
	}
	var t time.Time
	if err := t.UnmarshalText(raw); err != nil {
		// A value no version writes: scan everything once and replace it.
		return time.Time{}, raw, nil
	}
	return t, raw, nil
}

// recordExpiryScan records now as the time the next scan reads from,
// unless a replica recorded one since this scan read it (then that one
// stands, and either covers this scan's range). It records an earlier
// time than the one read too: a time recorded by a clock that ran ahead
// (or was set back since) must not stand, or the tokens expiring before
// it would never be read once expired. An earlier time only widens the
// next range.
func (s *Service) recordExpiryScan(ctx context.Context, raw []byte, now time.Time) error {
	v, err := now.UTC().MarshalText()
	if err != nil {
		return err
	}
	if err := s.Store.CompareAndSwap(ctx, expiryScanKey, raw, v); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("record the expiry scan: %w", err)
	}
	return nil
}

func stageName(name, interval string) string {
	if interval != "" {
		return interval
	}
	return name
}

// tokenOwnerPath answers the full path of t's project or group.
func (s *Service) tokenOwnerPath(ctx context.Context, t *DeployToken) (string, error) {
	if t.GroupID != 0 {
		g, err := s.Store.Group(ctx, t.GroupID)
		return g.FullPath, err
	}
	p, err := s.Store.Project(ctx, t.ProjectID)
	return p.PathWithNamespace, err
}

// RunExpiryScan runs ScanExpiring every interval until ctx ends. Every
// replica runs it; the markers keep each event single.
func (s *Service) RunExpiryScan(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.ScanExpiring(ctx); err != nil {
			s.log().WarnContext(ctx, "scan deploy tokens for expiry", "recorded", n, "err", err)
		} else if n > 0 {
			s.log().InfoContext(ctx, "recorded deploy token expiry events", "events", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

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
func (s *Service) ScanExpiring(ctx context.Context) (int, error) {
	ts, err := s.Store.ListAllDeployTokens(ctx)
	if err != nil {
		return 0, err
	}
	now := s.Clock()
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
	return n, nil
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

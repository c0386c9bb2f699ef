package tokens

import (
	"context"
	"time"
)

// AuditStore keeps the audit trail append-only, with a list per project,
// per group and one of every event, each ordered newest first and paged
// by index (a sorted set, or keys of one bucket), filterable by time and
// name.
type AuditStore interface {
	// AppendEvent assigns e.ID and stores e in its lists, and ds (their
	// EventID set to e.ID) in the webhook delivery queue, in one atomic
	// step. With e.Once set it is ErrConflict, and nothing is written,
	// when an append with the same Once was made before.
	AppendEvent(ctx context.Context, e *AuditEvent, ds []Delivery) error
	// PageEvents answers a page of the events q selects, newest first,
	// and their number.
	PageEvents(ctx context.Context, q EventQuery) ([]AuditEvent, int, error)
	// SweepEvents deletes the events created before before, from every
	// list, and answers how many.
	SweepEvents(ctx context.Context, before time.Time) (int, error)
}

// EventQuery selects audit events: a project's (ProjectID), a group's
// (GroupID) or every one (neither), of one Name when set, created within
// [After, Before] when set.
type EventQuery struct {
	Page
	ProjectID, GroupID int64
	Name               string
	After, Before      time.Time
}

// EventFilter is what a caller may narrow a list of events by.
type EventFilter struct {
	Name          string
	After, Before time.Time
}

func (f EventFilter) query(p Page) (EventQuery, error) {
	if f.Name != "" {
		if err := ValidateName("event_name", f.Name); err != nil {
			return EventQuery{}, err
		}
	}
	if !f.After.IsZero() && !f.Before.IsZero() && f.Before.Before(f.After) {
		return EventQuery{}, Invalid("created_before", "is before created_after")
	}
	return EventQuery{Page: p, Name: f.Name, After: f.After, Before: f.Before}, nil
}

// ProjectAuditEvents answers a page of a project's events; maintainers,
// owners and admins only.
func (s *Service) ProjectAuditEvents(ctx context.Context, a *Actor, ref string, f EventFilter, p Page) ([]AuditEvent, int, error) {
	q, err := f.query(p)
	if err != nil {
		return nil, 0, err
	}
	pr, _, err := s.ProjectFor(ctx, a, ref, Maintainer)
	if err != nil {
		return nil, 0, err
	}
	q.ProjectID = pr.ID
	return s.Store.PageEvents(ctx, q)
}

// GroupAuditEvents answers a page of a group's events; maintainers,
// owners and admins only.
func (s *Service) GroupAuditEvents(ctx context.Context, a *Actor, ref string, f EventFilter, p Page) ([]AuditEvent, int, error) {
	q, err := f.query(p)
	if err != nil {
		return nil, 0, err
	}
	g, _, err := s.GroupFor(ctx, a, ref, Maintainer)
	if err != nil {
		return nil, 0, err
	}
	q.GroupID = g.ID
	return s.Store.PageEvents(ctx, q)
}

// AllAuditEvents answers a page of every event; admins only.
func (s *Service) AllAuditEvents(ctx context.Context, a *Actor, f EventFilter, p Page) ([]AuditEvent, int, error) {
	if !a.User.Admin {
		return nil, 0, ErrForbidden
	}
	q, err := f.query(p)
	if err != nil {
		return nil, 0, err
	}
	return s.Store.PageEvents(ctx, q)
}

// RunAuditSweep deletes the events older than retention every interval
// until ctx ends. Every replica runs it: a sweep is idempotent, so two at
// once only repeat deletes.
func (s *Service) RunAuditSweep(ctx context.Context, retention, interval time.Duration) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.Store.SweepEvents(ctx, s.Clock().Add(-retention)); err != nil {
			s.log().WarnContext(ctx, "sweep audit events", "err", err)
		} else if n > 0 {
			s.log().InfoContext(ctx, "deleted audit events past their retention", "events", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package api

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// Audit events: GitLab's GET /projects/:id/audit_events,
// /groups/:id/audit_events and /audit_events, paged by the page, with its
// created_after and created_before, and event_name to select one kind.

func (a *API) registerAudit(get func(string, echo.HandlerFunc)) {
	get("/projects/:id/audit_events", a.listProjectAuditEvents)
	get("/groups/:id/audit_events", a.listGroupAuditEvents)
	get("/audit_events", a.listAllAuditEvents)
}

type auditDetailsJSON struct {
	AuthorName    string `json:"author_name"`
	AuthorClass   string `json:"author_class"`
	TargetID      int64  `json:"target_id,omitempty"`
	TargetType    string `json:"target_type,omitempty"`
	TargetDetails string `json:"target_details,omitempty"`
	IPAddress     string `json:"ip_address,omitempty"`
	EntityPath    string `json:"entity_path,omitempty"`
	CustomMessage string `json:"custom_message,omitempty"`
	EventName     string `json:"event_name"`
}

type auditEventJSON struct {
	ID         int64            `json:"id"`
	AuthorID   int64            `json:"author_id"`
	EntityID   int64            `json:"entity_id"`
	EntityType string           `json:"entity_type"`
	EventName  string           `json:"event_name"`
	Details    auditDetailsJSON `json:"details"`
	CreatedAt  *string          `json:"created_at"`
}

// auditEvent is GitLab's audit event shape. author_id is the user's, the
// deploy token's (author_class DeployToken), or -1 for the server itself,
// as GitLab marks an author that is no user.
func auditEvent(e tokens.AuditEvent) auditEventJSON {
	class, author := "User", e.AuthorID
	switch e.AuthorKind {
	case tokens.AuthorDeployToken:
		class = "DeployToken"
	case tokens.AuthorSystem:
		class, author = "System", -1
	}
	return auditEventJSON{
		ID: e.ID, AuthorID: author, EntityID: e.EntityID, EntityType: e.EntityType, EventName: e.Name,
		Details: auditDetailsJSON{AuthorName: e.AuthorName, AuthorClass: class, TargetID: e.TargetID, TargetType: e.TargetType,
			TargetDetails: e.TargetDetails, IPAddress: e.IPAddress, EntityPath: e.EntityPath, CustomMessage: e.Message, EventName: e.Name},
		CreatedAt: rfc3339(&e.CreatedAt),
	}
}

// eventFilter reads created_after, created_before (ISO 8601 times, or
// dates) and event_name.
func eventFilter(c echo.Context) (tokens.EventFilter, error) {
	q := c.QueryParams()
	f := tokens.EventFilter{Name: q.Get("event_name")}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"created_after", &f.After}, {"created_before", &f.Before}} {
		v := q.Get(b.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				return f, tokens.Invalid(b.name, "must be an ISO 8601 time (YYYY-MM-DDTHH:MM:SSZ) or date")
			}
			if b.name == "created_before" {
				// A date as the upper bound means the whole day.
				t = t.Add(24*time.Hour - time.Microsecond)
			}
		}
		*b.dst = t
	}
	return f, nil
}

func (a *API) listAuditEvents(c echo.Context, list func(tokens.EventFilter, tokens.Page) ([]tokens.AuditEvent, int, error)) error {
	f, err := eventFilter(c)
	if err != nil {
		return err
	}
	return servePage(c, a.ExternalURL, func(p tokens.Page) ([]tokens.AuditEvent, int, error) {
		return list(f, p)
	}, auditEvent)
}

func (a *API) listProjectAuditEvents(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	return a.listAuditEvents(c, func(f tokens.EventFilter, p tokens.Page) ([]tokens.AuditEvent, int, error) {
		return a.Service.ProjectAuditEvents(ctx(c), actor(c), ref, f, p)
	})
}

func (a *API) listGroupAuditEvents(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	return a.listAuditEvents(c, func(f tokens.EventFilter, p tokens.Page) ([]tokens.AuditEvent, int, error) {
		return a.Service.GroupAuditEvents(ctx(c), actor(c), ref, f, p)
	})
}

func (a *API) listAllAuditEvents(c echo.Context) error {
	return a.listAuditEvents(c, func(f tokens.EventFilter, p tokens.Page) ([]tokens.AuditEvent, int, error) {
		return a.Service.AllAuditEvents(ctx(c), actor(c), f, p)
	})
}

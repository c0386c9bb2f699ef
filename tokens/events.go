package tokens

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Event names, GitLab's where GitLab records the same thing (its audit
// event types deploy_token_created, deploy_token_revoked, member_created,
// personal_access_token_created...), ours where it has none.
const (
	EventDeployTokenCreated = "deploy_token_created"
	EventDeployTokenRevoked = "deploy_token_revoked"
	// EventDeployTokenRotated is for the rotate call (GitLab has none for
	// deploy tokens); Rotate calls EmitDeployTokenRotated.
	EventDeployTokenRotated = "deploy_token_rotated"
	// EventDeployTokenExpiring is a warning 60, 30 or 7 days ahead
	// (Event.Interval says which); its webhook event_name is GitLab's
	// expiring_deploy_token.
	EventDeployTokenExpiring = "deploy_token_expiring"
	EventDeployTokenExpired  = "deploy_token_expired"
	// EventCIDeployPassword is one hand-out of a CI token's secret as
	// CI_DEPLOY_PASSWORD.
	EventCIDeployPassword = "ci_deploy_password_handed_out"
	EventGroupCreated     = "group_created"
	EventGroupUpdated     = "group_updated"
	EventGroupDestroyed   = "group_destroyed"
	EventMemberCreated    = "member_created"
	EventMemberUpdated    = "member_updated"
	EventMemberDestroyed  = "member_destroyed"
	EventPATCreated       = "personal_access_token_created"
	EventPATRevoked       = "personal_access_token_revoked"
	EventPATRotated       = "personal_access_token_rotated"
	// EventSignInBan is an address banned after failed sign-ins.
	EventSignInBan = "sign_in_failure_ban"
	// EventOIDCExchange is for the OIDC federation's token exchange.
	EventOIDCExchange = "oidc_exchange"
	// Trust policies on deploy tokens, webhooks and the registry's
	// signing keys: who may use a token, who hears of it, and what the
	// registry trusts.
	EventFederatedIdentityCreated   = "federated_identity_created"
	EventFederatedIdentityDestroyed = "federated_identity_destroyed"
	EventHookCreated                = "hook_created"
	EventHookUpdated                = "hook_updated"
	EventHookDestroyed              = "hook_destroyed"
	EventSigningKeyRotated          = "signing_key_rotated"
)

// The kinds of author of an event.
const (
	AuthorUser        = "user"
	AuthorDeployToken = "deploy_token"
	// AuthorSystem is the server itself: the expiry scheduler, the
	// failure limiter.
	AuthorSystem = "system"
)

// The entity and target types of events, GitLab's names.
const (
	EntityProject  = "Project"
	EntityGroup    = "Group"
	EntityUser     = "User"
	EntityInstance = "Gitlab::Audit::InstanceScope"
)

// AuditEvent is one entry of the audit trail: who did what to which
// project or group, from where and when. It never holds a secret.
type AuditEvent struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// AuthorKind is AuthorUser (AuthorID and AuthorName are the user's),
	// AuthorDeployToken (the token's id and username) or AuthorSystem.
	AuthorKind string `json:"author_kind"`
	AuthorID   int64  `json:"author_id"`
	AuthorName string `json:"author_name"`
	// EntityType and EntityID name what the event is recorded against, in
	// GitLab's terms: the project, the group, or a user.
	EntityType string `json:"entity_type"`
	EntityID   int64  `json:"entity_id"`
	EntityPath string `json:"entity_path,omitempty"`
	// Target is what changed (a deploy token, a member, an address).
	TargetID      int64  `json:"target_id,omitempty"`
	TargetType    string `json:"target_type,omitempty"`
	TargetDetails string `json:"target_details,omitempty"`
	IPAddress     string `json:"ip_address,omitempty"`
	Message       string `json:"message,omitempty"`
	// ProjectID and GroupID put the event in the project's and the
	// group's lists (both, for a group token's secret handed to one of its
	// projects' CI); every event is in the instance's.
	ProjectID int64     `json:"project_id,omitempty"`
	GroupID   int64     `json:"group_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Once, when set, is a marker the store sets in the same atomic step
	// as the append, refusing the append (ErrConflict) when it is set
	// already: of the replicas' schedulers noticing one expiry, exactly
	// one records it and enqueues its webhooks.
	Once string `json:"-"`
}

// Event is what happened, for the audit trail and, for a deploy token's
// life, the webhooks of its project or group and the groups above.
type Event struct {
	AuditEvent
	// Token is the deploy token the event is about; with it the event goes
	// to the webhooks that subscribe to deploy token events.
	Token *DeployToken
	// Interval is an expiry warning's lead ("60d", "30d", "7d").
	Interval string
}

// actorAuthor fills who and from where from a.
func (e *AuditEvent) actorAuthor(a *Actor) {
	if a == nil {
		e.AuthorKind = AuthorSystem
		return
	}
	e.AuthorKind, e.AuthorID, e.AuthorName, e.IPAddress = AuthorUser, a.User.ID, a.User.Username, a.From
}

// emit records ev: the audit entry and, for a deploy token event, a
// delivery to each subscribed webhook, in one atomic store step so that a
// crash leaves both or neither. It is the one place events are made;
// callers whose change is done already (a token created: its secret must
// reach its creator) log a failure rather than fail the request.
func (s *Service) emit(ctx context.Context, ev Event) error {
	e := ev.AuditEvent
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.Clock()
	}
	if e.AuthorKind == "" {
		e.AuthorKind = AuthorSystem
	}
	var ds []Delivery
	if ev.Token != nil {
		var err error
		if ds, err = s.deliveriesFor(ctx, &e, ev); err != nil {
			return fmt.Errorf("find the webhooks of %s: %w", e.Name, err)
		}
	}
	if err := s.Store.AppendEvent(ctx, &e, ds); err != nil {
		return fmt.Errorf("record %s: %w", e.Name, err)
	}
	return nil
}

// record emits ev and logs a failure: for changes that are done whatever
// the trail says.
func (s *Service) record(ctx context.Context, ev Event) {
	if err := s.emit(ctx, ev); err != nil {
		s.log().ErrorContext(ctx, "audit event lost", "event", ev.Name, "err", err)
	}
}

// tokenEvent is the event name of t's life, recorded against its project
// or group.
func tokenEvent(name string, a *Actor, t *DeployToken, path string) Event {
	e := AuditEvent{Name: name, TargetID: t.ID, TargetType: "DeployToken", TargetDetails: t.Name + " (" + t.Username + ")", EntityPath: path}
	e.actorAuthor(a)
	if t.GroupID != 0 {
		e.EntityType, e.EntityID, e.GroupID = EntityGroup, t.GroupID, t.GroupID
	} else {
		e.EntityType, e.EntityID, e.ProjectID = EntityProject, t.ProjectID, t.ProjectID
	}
	tc := *t
	return Event{AuditEvent: e, Token: &tc}
}

// EmitDeployTokenRotated records the rotation of t by a (the hook the
// rotate path calls once the new secret is stored): the audit entry and
// the webhooks' deploy_token_rotated. path is the project's or group's
// full path. A failure is logged, not answered: the rotation is done.
func (s *Service) EmitDeployTokenRotated(ctx context.Context, a *Actor, t DeployToken, path string) {
	s.record(ctx, tokenEvent(EventDeployTokenRotated, a, &t, path))
}

// EmitOIDCExchange records an OIDC token exchange for deploy token t:
// who (the subject the issuer vouched for, as author name, the server
// being the one that acted), for t's project or group, from where, and
// message (the issuer and the claims that matched; never the OIDC token).
func (s *Service) EmitOIDCExchange(ctx context.Context, t DeployToken, subject, from, message string) {
	e := tokenEvent(EventOIDCExchange, nil, &t, "")
	e.AuthorName, e.IPAddress, e.Message = subject, from, message
	e.Token = nil // an audit entry only: no webhook hears of exchanges
	s.record(ctx, e)
}

// RecordBan records that addr was banned until until after failures
// failed sign-ins (the failure limiter's hook). Nobody is known: the
// author is the server.
func (s *Service) RecordBan(ctx context.Context, addr string, failures int64, until time.Time) {
	s.record(ctx, Event{AuditEvent: AuditEvent{Name: EventSignInBan, AuthorKind: AuthorSystem, AuthorName: "deploytokens",
		EntityType: EntityInstance, TargetType: "IPAddress", TargetDetails: addr, IPAddress: addr,
		Message: fmt.Sprintf("banned until %s after %d failed sign-ins", until.UTC().Format(time.RFC3339), failures)}})
}

// onceTaken reports that another replica recorded the event (its Once
// marker was set).
func onceTaken(err error) bool { return errors.Is(err, ErrConflict) }

// patEvent is the event name of PAT t's life, recorded against its user.
func patEvent(name string, a *Actor, t PersonalAccessToken) Event {
	e := AuditEvent{Name: name, EntityType: EntityUser, EntityID: t.UserID, TargetID: t.ID, TargetType: "PersonalAccessToken", TargetDetails: t.Name}
	e.actorAuthor(a)
	return Event{AuditEvent: e}
}

// groupEvent is the event name of group g's life.
func groupEvent(name string, a *Actor, g Group) Event {
	e := AuditEvent{Name: name, EntityType: EntityGroup, EntityID: g.ID, EntityPath: g.FullPath, GroupID: g.ID, TargetID: g.ID, TargetType: "Group", TargetDetails: g.FullPath}
	e.actorAuthor(a)
	return Event{AuditEvent: e}
}

// memberEvent is a member added (create) or changed to level in a project
// or group (entityType and id).
func memberEvent(a *Actor, create bool, level AccessLevel, u User, entityType string, id int64, path string) Event {
	name := EventMemberUpdated
	if create {
		name = EventMemberCreated
	}
	e := memberRemoved(a, u.ID, entityType, id, path)
	e.Name, e.TargetDetails, e.Message = name, u.Username, fmt.Sprintf("access level %d", level)
	return e
}

// memberRemoved is user userID's membership of a project or group ended.
func memberRemoved(a *Actor, userID int64, entityType string, id int64, path string) Event {
	e := AuditEvent{Name: EventMemberDestroyed, EntityType: entityType, EntityID: id, EntityPath: path, TargetID: userID, TargetType: "User"}
	if entityType == EntityGroup {
		e.GroupID = id
	} else {
		e.ProjectID = id
	}
	e.actorAuthor(a)
	return e.event()
}

func (e AuditEvent) event() Event { return Event{AuditEvent: e} }

// identityEvent is a trust policy added to or removed from deploy token t.
func identityEvent(name string, a *Actor, t *DeployToken, f FederatedIdentity) Event {
	e := tokenEvent(name, a, t, "")
	e.Token = nil // no webhook hears of policies
	e.Message = fmt.Sprintf("federated identity %d: issuer %s, audience %s", f.ID, f.Issuer, f.Audience)
	return e
}

// hookEvent is a webhook of a project or group created, changed or
// deleted; never its token.
func hookEvent(name string, a *Actor, h Hook) Event {
	e := AuditEvent{Name: name, TargetID: h.ID, TargetType: "Hook", TargetDetails: h.URL}
	e.actorAuthor(a)
	if h.GroupID != 0 {
		e.EntityType, e.EntityID, e.GroupID = EntityGroup, h.GroupID, h.GroupID
	} else {
		e.EntityType, e.EntityID, e.ProjectID = EntityProject, h.ProjectID, h.ProjectID
	}
	return Event{AuditEvent: e}
}

// RecordSigningKeyRotation records that a rotated the registry's signing
// keys, kid now signing (or about to).
func (s *Service) RecordSigningKeyRotation(ctx context.Context, a *Actor, kid string) {
	e := AuditEvent{Name: EventSigningKeyRotated, EntityType: EntityInstance, TargetType: "SigningKey", TargetDetails: kid}
	e.actorAuthor(a)
	s.record(ctx, Event{AuditEvent: e})
}

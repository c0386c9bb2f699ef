package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Hook is a project's or a group's webhook. Only deploy token events are
// sent; GitLab's other event flags are accepted and kept false.
type Hook struct {
	ID int64 `json:"id"`
	// Exactly one of ProjectID and GroupID is non-zero.
	ProjectID int64  `json:"project_id,omitempty"`
	GroupID   int64  `json:"group_id,omitempty"`
	URL       string `json:"url"`
	// Token is the secret sent as X-Gitlab-Token, sealed (see Keys.Seal):
	// it must be sent, so it is kept, but never in the clear.
	Token                 []byte    `json:"token,omitempty"`
	DeployTokenEvents     bool      `json:"deploy_token_events"`
	EnableSSLVerification bool      `json:"enable_ssl_verification"`
	CreatedAt             time.Time `json:"created_at"`
}

// HasToken reports whether the hook sends X-Gitlab-Token.
func (h *Hook) HasToken() bool { return len(h.Token) > 0 }

// Delivery is one webhook request to make: durable in the store's queue
// until it is answered 2xx or runs out of attempts.
type Delivery struct {
	ID      int64 `json:"id"`
	HookID  int64 `json:"hook_id"`
	EventID int64 `json:"event_id"`
	// Event is the X-Gitlab-Event header.
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	// Attempts counts the claims so far, this one included.
	Attempts   int       `json:"attempts"`
	LastStatus string    `json:"last_status,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// HookStore keeps webhooks and the queue of their deliveries.
type HookStore interface {
	// CreateHook assigns h.ID and stores h.
	CreateHook(ctx context.Context, h *Hook) error
	Hook(ctx context.Context, id int64) (Hook, error)
	// ListHooks answers a project's hooks (groupID 0) or a group's
	// (projectID 0), ordered by ID.
	ListHooks(ctx context.Context, projectID, groupID int64) ([]Hook, error)
	// UpdateHook replaces a stored hook; ErrNotFound when there is none.
	UpdateHook(ctx context.Context, h Hook) error
	// DeleteHook removes a hook; ErrNotFound when there is none. Its
	// queued deliveries are dropped when claimed.
	DeleteHook(ctx context.Context, id int64) error
	// ClaimDeliveries answers up to max deliveries due at now and makes
	// them due again at now+lease, counting an attempt, in one atomic
	// step: of replicas claiming at once each delivery goes to one, and a
	// replica that dies holding one leaves it to the others after lease.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, max int) ([]Delivery, error)
	// RetryDelivery makes a claimed delivery due at at, noting status.
	RetryDelivery(ctx context.Context, id int64, at time.Time, status string) error
	// FinishDelivery removes a delivery from the queue.
	FinishDelivery(ctx context.Context, id int64) error
}

// HookInput is what a caller gives to create or change a hook; nil
// fields keep the current value (or the default, on create).
type HookInput struct {
	URL                   *string
	Token                 *string
	DeployTokenEvents     *bool
	EnableSSLVerification *bool
}

// The webhook header value of deploy token events.
const DeployTokenHookEvent = "Deploy Token Hook"

// CheckHookURL refuses a URL that is not http(s) or that points at a
// loopback, private, link-local or unspecified address (or a name that
// resolves to one), unless AllowPrivateHooks: a hook must not be a way to
// make the server call its own neighbours. Delivery checks again at dial
// time, since a name may resolve elsewhere later.
func (s *Service) CheckHookURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, Invalid("url", "must be an http or https URL without credentials")
	}
	if len(raw) > 2048 {
		return nil, Invalid("url", "is longer than 2048 characters")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, Invalid("url", "has an invalid port: %q", truncate(p, 16))
		}
	}
	if s.AllowPrivateHooks {
		return u, nil
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return nil, Invalid("url", "is blocked: requests to the local network are not allowed")
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		if err != nil {
			return nil, Invalid("url", "is blocked: host %q does not resolve", host)
		}
		addrs = ips
	}
	for _, a := range addrs {
		if PrivateAddr(a) {
			return nil, Invalid("url", "is blocked: requests to the local network are not allowed")
		}
	}
	return u, nil
}

// PrivateAddr reports whether a is an address a webhook may not reach
// unless private hooks are allowed: loopback, private, link-local,
// unspecified, multicast, carrier-grade NAT, the reserved and broadcast
// IPv4 ranges and the benchmarking one, and any IPv4 address of those
// kinds written as IPv6 (mapped, IPv4-compatible, NAT64 or 6to4), which a
// NAT64 gateway or a 6to4 relay would deliver to it.
func PrivateAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() {
		return true
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a), ipv4Compatible.Contains(a):
			return PrivateAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(a):
			return PrivateAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	for _, p := range blockedV4 {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var (
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	ipv4Compatible = netip.MustParsePrefix("::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	blockedV4      = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
		netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
		netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
		netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and the broadcast address
	}
)

// hookOwner resolves the project or group a hook belongs to, for a
// maintainer or up: projectRef or groupRef is set.
func (s *Service) hookOwner(ctx context.Context, a *Actor, projectRef, groupRef string) (projectID, groupID int64, err error) {
	if groupRef != "" {
		g, _, err := s.GroupFor(ctx, a, groupRef, Maintainer)
		return 0, g.ID, err
	}
	p, _, err := s.ProjectFor(ctx, a, projectRef, Maintainer)
	return p.ID, 0, err
}

// MaxHooks is how many webhooks a project or a group may have, as GitLab.
const MaxHooks = 100

// ErrHookNotFound answers a hook that does not exist, or not here.
var ErrHookNotFound = &Error{Kind: KindNotFound, Subject: "Hook"}

// ListHooks answers the hooks of a project (projectRef) or a group
// (groupRef); maintainers and up.
func (s *Service) ListHooks(ctx context.Context, a *Actor, projectRef, groupRef string) ([]Hook, error) {
	pid, gid, err := s.hookOwner(ctx, a, projectRef, groupRef)
	if err != nil {
		return nil, err
	}
	return s.Store.ListHooks(ctx, pid, gid)
}

// GetHook answers one hook of a project or a group.
func (s *Service) GetHook(ctx context.Context, a *Actor, projectRef, groupRef string, id int64) (Hook, error) {
	pid, gid, err := s.hookOwner(ctx, a, projectRef, groupRef)
	if err != nil {
		return Hook{}, err
	}
	h, err := s.Store.Hook(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (h.ProjectID != pid || h.GroupID != gid)) {
		return Hook{}, ErrHookNotFound
	}
	return h, err
}

// applyHook validates in into h.
func (s *Service) applyHook(ctx context.Context, h *Hook, in HookInput) error {
	if in.URL != nil {
		u, err := s.CheckHookURL(ctx, *in.URL)
		if err != nil {
			return err
		}
		if u.String() != h.URL && in.Token == nil {
			// The secret was shared with the old receiver: moving the
			// hook without a new one must not hand it to whoever the
			// URL names now. GitLab clears it too.
			h.Token = nil
		}
		h.URL = u.String()
	}
	if in.Token != nil {
		if len(*in.Token) > 1024 {
			return Invalid("token", "is longer than 1024 characters")
		}
		if strings.ContainsFunc(*in.Token, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			// It is sent as a header, which may not hold them: every
			// delivery would fail.
			return Invalid("token", "must not contain control characters")
		}
		h.Token = nil
		if *in.Token != "" {
			sealed, err := s.Keys.Seal(Secret(*in.Token), hookTokenContext(h))
			if err != nil {
				return err
			}
			h.Token = sealed
		}
	}
	if in.DeployTokenEvents != nil {
		h.DeployTokenEvents = *in.DeployTokenEvents
	}
	if in.EnableSSLVerification != nil {
		h.EnableSSLVerification = *in.EnableSSLVerification
	}
	return nil
}

// hookTokenContext binds a hook's sealed token to its owner and creation
// time: a blob copied into another hook's record does not open.
func hookTokenContext(h *Hook) string {
	return "hook:" + strconv.FormatInt(h.ProjectID, 10) + ":" + strconv.FormatInt(h.GroupID, 10) + ":" + h.CreatedAt.UTC().Format(time.RFC3339Nano)
}

// CreateHook creates a hook of a project or a group.
func (s *Service) CreateHook(ctx context.Context, a *Actor, projectRef, groupRef string, in HookInput) (Hook, error) {
	pid, gid, err := s.hookOwner(ctx, a, projectRef, groupRef)
	if err != nil {
		return Hook{}, err
	}
	if in.URL == nil || *in.URL == "" {
		return Hook{}, Invalid("url", "is missing")
	}
	// GitLab's bound. Counted before the write, so racing creates may pass
	// it by a few; it bounds what one owner makes every event cost.
	if hs, err := s.Store.ListHooks(ctx, pid, gid); err != nil {
		return Hook{}, err
	} else if len(hs) >= MaxHooks {
		return Hook{}, Invalid("url", "can't be added: a project or group has at most %d webhooks", MaxHooks)
	}
	h := Hook{ProjectID: pid, GroupID: gid, EnableSSLVerification: true, CreatedAt: s.Clock()}
	if err := s.applyHook(ctx, &h, in); err != nil {
		return Hook{}, err
	}
	if err := s.Store.CreateHook(ctx, &h); err != nil {
		return Hook{}, fmt.Errorf("create hook: %w", err)
	}
	s.record(ctx, hookEvent(EventHookCreated, a, h))
	return h, nil
}

// UpdateHook changes a hook of a project or a group.
func (s *Service) UpdateHook(ctx context.Context, a *Actor, projectRef, groupRef string, id int64, in HookInput) (Hook, error) {
	h, err := s.GetHook(ctx, a, projectRef, groupRef, id)
	if err != nil {
		return Hook{}, err
	}
	if err := s.applyHook(ctx, &h, in); err != nil {
		return Hook{}, err
	}
	if err := s.Store.UpdateHook(ctx, h); errors.Is(err, ErrNotFound) {
		return Hook{}, ErrHookNotFound
	} else if err != nil {
		return Hook{}, err
	}
	s.record(ctx, hookEvent(EventHookUpdated, a, h))
	return h, nil
}

// DeleteHook deletes a hook of a project or a group.
func (s *Service) DeleteHook(ctx context.Context, a *Actor, projectRef, groupRef string, id int64) error {
	h, err := s.GetHook(ctx, a, projectRef, groupRef, id)
	if err != nil {
		return err
	}
	err = s.Store.DeleteHook(ctx, h.ID)
	if errors.Is(err, ErrNotFound) {
		return ErrHookNotFound
	}
	if err == nil {
		s.record(ctx, hookEvent(EventHookDestroyed, a, h))
	}
	return err
}

// deliveriesFor answers a delivery of ev to every hook subscribed to
// deploy token events of the token's project and the groups above it, or
// of the token's group and the groups above it: a group's hooks hear of
// everything in its subtree, as GitLab's group webhooks do.
func (s *Service) deliveriesFor(ctx context.Context, e *AuditEvent, ev Event) ([]Delivery, error) {
	t := ev.Token
	var (
		hooks   []Hook
		along   []Group
		project *Project
		group   *Group
	)
	if t.ProjectID != 0 {
		p, err := s.Store.Project(ctx, t.ProjectID)
		if err != nil {
			return nil, err
		}
		project = &p
		if hooks, err = s.Store.ListHooks(ctx, p.ID, 0); err != nil {
			return nil, err
		}
		if p.NamespaceID != 0 {
			if along, err = s.Store.GroupsAlong(ctx, p.PathWithNamespace); err != nil {
				return nil, err
			}
		}
	} else {
		g, err := s.Store.Group(ctx, t.GroupID)
		if err != nil {
			return nil, err
		}
		group = &g
		if along, err = s.Store.GroupsAlong(ctx, g.FullPath); err != nil {
			return nil, err
		}
	}
	for _, g := range along {
		hs, err := s.Store.ListHooks(ctx, 0, g.ID)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, hs...)
	}
	var payload []byte
	var ds []Delivery
	for _, h := range hooks {
		if !h.DeployTokenEvents {
			continue
		}
		if payload == nil {
			var err error
			if payload, err = deployTokenPayload(e, ev, project, group); err != nil {
				return nil, err
			}
		}
		ds = append(ds, Delivery{HookID: h.ID, Event: DeployTokenHookEvent, Payload: payload, CreatedAt: e.CreatedAt})
	}
	return ds, nil
}

// hookEventName is the webhook event_name of an audit event name: GitLab's
// expiring_deploy_token for the warnings, the audit name otherwise.
func hookEventName(name string) string {
	if name == EventDeployTokenExpiring {
		return "expiring_deploy_token"
	}
	return name
}

// deployTokenPayload is the body of a deploy token webhook, in the shape
// of GitLab's deploy token (and resource access token) events:
// object_kind, event_name, project or group, object_attributes, and for
// the warnings interval. Added: author (who did it; absent for the
// scheduler's events), created_at of the event, and object_attributes'
// username, scopes, revoked, group_id and project_id.
func deployTokenPayload(e *AuditEvent, ev Event, p *Project, g *Group) ([]byte, error) {
	t := ev.Token
	type attrs struct {
		ID        int64    `json:"id"`
		Name      string   `json:"name"`
		Username  string   `json:"username"`
		Scopes    []string `json:"scopes"`
		ExpiresAt *string  `json:"expires_at"`
		CreatedAt string   `json:"created_at"`
		Revoked   bool     `json:"revoked"`
		Expired   bool     `json:"expired"`
		ProjectID int64    `json:"project_id,omitempty"`
		GroupID   int64    `json:"group_id,omitempty"`
	}
	body := map[string]any{
		"object_kind": "deploy_token",
		"event_name":  hookEventName(e.Name),
		"created_at":  e.CreatedAt.UTC().Format(time.RFC3339),
	}
	a := attrs{ID: t.ID, Name: t.Name, Username: t.Username, Scopes: t.Scopes, CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339),
		Revoked: t.Revoked || e.Name == EventDeployTokenRevoked, Expired: e.Name == EventDeployTokenExpired, ProjectID: t.ProjectID, GroupID: t.GroupID}
	if t.ExpiresAt != nil {
		s := t.ExpiresAt.UTC().Format("2006-01-02")
		a.ExpiresAt = &s
	}
	body["object_attributes"] = a
	if ev.Interval != "" {
		body["interval"] = ev.Interval
	}
	if p != nil {
		body["project"] = map[string]any{"id": p.ID, "name": p.Name, "path_with_namespace": p.PathWithNamespace}
	}
	if g != nil {
		body["group"] = map[string]any{"group_id": g.ID, "group_name": g.Name, "group_path": g.Path, "full_path": g.FullPath}
	}
	if e.AuthorKind == AuthorUser {
		body["author"] = map[string]any{"id": e.AuthorID, "username": e.AuthorName}
	}
	return json.Marshal(body)
}

// HookTarget is where and how a delivery is sent.
type HookTarget struct {
	URL                   string
	Token                 Secret
	EnableSSLVerification bool
}

// DeliveryTarget answers where d goes; ErrHookNotFound when its hook was
// deleted or unsubscribed since (the delivery is then dropped).
func (s *Service) DeliveryTarget(ctx context.Context, d Delivery) (HookTarget, error) {
	h, err := s.Store.Hook(ctx, d.HookID)
	if errors.Is(err, ErrNotFound) || (err == nil && !h.DeployTokenEvents) {
		return HookTarget{}, ErrHookNotFound
	}
	if err != nil {
		return HookTarget{}, err
	}
	t := HookTarget{URL: h.URL, EnableSSLVerification: h.EnableSSLVerification}
	if h.HasToken() {
		if t.Token, err = s.Keys.Open(h.Token, hookTokenContext(&h)); err != nil {
			return HookTarget{}, fmt.Errorf("open the token of hook %d: %w", h.ID, err)
		}
	}
	return t, nil
}

// dropHooks deletes the hooks of a deleted project or group. A failure is
// logged: a hook whose owner is gone hears of nothing (no token of a
// deleted owner has events), so it only takes room.
func (s *Service) dropHooks(ctx context.Context, projectID, groupID int64) {
	hs, err := s.Store.ListHooks(ctx, projectID, groupID)
	for _, h := range hs {
		if err == nil || errors.Is(err, ErrNotFound) {
			err = s.Store.DeleteHook(ctx, h.ID)
		}
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.log().WarnContext(ctx, "delete the hooks of a deleted project or group", "project_id", projectID, "group_id", groupID, "err", err)
	}
}

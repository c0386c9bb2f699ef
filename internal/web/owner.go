package web

import (
	"context"

	"github.com/deploytokens/deploytokens/tokens"
)

// owner is what a Deploy tokens section belongs to: a project, or a group
// whose tokens reach every project below it. The settings, create and
// revoke handlers and their templates work on an owner alone, so the
// project's and the group's pages are one page.
type owner struct {
	// Kind is "project" or "group", as the page words it.
	Kind string
	// Path is the project's or the group's full path.
	Path string
	// Home is the site path the owner's pages start with, without the
	// base: "/tanuki/app" for a project, "/groups/corp" for a group.
	Home string
	// projectID or groupID, the other one 0, is whose tokens these are.
	projectID, groupID int64
}

// IsGroup reports whether the owner is a group.
func (o owner) IsGroup() bool { return o.groupID != 0 }

// Settings is the site path of the owner's Settings › Repository page.
func (o owner) Settings() string { return o.Home + "/-/" + settingsSuffix }

// AuditEvents is the site path of the owner's Audit events tab.
func (o owner) AuditEvents() string { return o.Home + "/-/" + auditSuffix }

// Tokens is the site path the create form posts to, and the revoke
// pages are below.
func (o owner) Tokens() string { return o.Home + "/-/" + tokensSuffix }

// owns reports whether f was put by a POST to this owner's pages, so a
// flash meant for one page is never shown on another.
func (o owner) owns(f *flash) bool {
	return f != nil && f.ProjectID == o.projectID && f.GroupID == o.groupID
}

// flash answers a flash for this owner's settings page.
func (o owner) flash(notice string, t *newToken) flash {
	return flash{ProjectID: o.projectID, GroupID: o.groupID, Notice: notice, NewToken: t}
}

// tokenOwner resolves the route's project or group for its maintainers,
// owners and admins (a group's members by their inherited level too);
// anyone else gets an error the web shows as its 404 page.
func (h *Handler) tokenOwner(rq *request) (owner, error) {
	ctx, a := rq.ctx(), rq.actor()
	if rq.route.group != "" {
		g, _, err := h.Service.GroupFor(ctx, a, rq.route.group, tokens.Maintainer)
		if err != nil {
			return owner{}, err
		}
		return owner{Kind: "group", Path: g.FullPath, Home: "/groups/" + g.FullPath, groupID: g.ID}, nil
	}
	p, _, err := h.Service.ProjectFor(ctx, a, rq.route.project, tokens.Maintainer)
	if err != nil {
		return owner{}, err
	}
	return owner{Kind: "project", Path: p.PathWithNamespace, Home: "/" + p.PathWithNamespace, projectID: p.ID}, nil
}

// The calls below answer the service's project or group deploy token
// call for o; the service checks the actor's access again on each.

func (h *Handler) listTokens(ctx context.Context, a *tokens.Actor, o owner) ([]tokens.DeployToken, error) {
	if o.IsGroup() {
		return h.Service.ListGroupDeployTokens(ctx, a, o.Path, false)
	}
	return h.Service.ListDeployTokens(ctx, a, o.Path, false)
}

func (h *Handler) getToken(ctx context.Context, a *tokens.Actor, o owner, id int64) (tokens.DeployToken, error) {
	if o.IsGroup() {
		return h.Service.GroupDeployToken(ctx, a, o.Path, id)
	}
	return h.Service.DeployToken(ctx, a, o.Path, id)
}

func (h *Handler) createTokenFor(ctx context.Context, a *tokens.Actor, o owner, in tokens.CreateDeployTokenInput) (tokens.DeployToken, tokens.Secret, error) {
	if o.IsGroup() {
		return h.Service.CreateGroupDeployToken(ctx, a, o.Path, in)
	}
	return h.Service.CreateDeployToken(ctx, a, o.Path, in)
}

func (h *Handler) revokeTokenOf(ctx context.Context, a *tokens.Actor, o owner, id int64) error {
	if o.IsGroup() {
		return h.Service.RevokeGroupDeployToken(ctx, a, o.Path, id)
	}
	return h.Service.RevokeDeployToken(ctx, a, o.Path, id)
}

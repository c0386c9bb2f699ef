package web

import (
	"net/http"
	"strings"

	"github.com/deploytokens/deploytokens/tokens"
)

// routeKind names a page or an action of the web interface.
type routeKind int

const (
	routeHome routeKind = iota + 1
	routeSignIn
	routeSignOut
	routeAsset
	routeProject
	routeSettings
	routeCreateToken
	routeRevokeToken
	routeRotateToken
	routeAuditEvents
	routeCreateIdentity
	routeDeleteIdentity
)

// route is a parsed request path.
type route struct {
	kind    routeKind
	project string // full project path, for project routes
	group   string // full group path, for group routes
	tokenID int64  // for routeRevokeToken, routeRotateToken and routeDeleteIdentity
	asset   string // file name, for routeAsset

	// identityID is the federated identity of routeDeleteIdentity.
	identityID int64
}

// methods answers the methods a route accepts (HEAD goes with GET).
func (r route) methods() []string {
	switch r.kind {
	case routeSignIn, routeRevokeToken, routeRotateToken:
		return []string{http.MethodGet, http.MethodHead, http.MethodPost}
	case routeSignOut, routeCreateToken, routeCreateIdentity, routeDeleteIdentity:
		return []string{http.MethodPost}
	}
	return []string{http.MethodGet, http.MethodHead}
}

// Paths below a project, after its "/-/" separator (GitLab's addresses).
const (
	settingsSuffix = "settings/repository"
	tokensSuffix   = settingsSuffix + "/deploy_tokens"
	// auditSuffix is the Audit events tab, at GitLab's address.
	auditSuffix = "audit_events"
)

// parseRoute reads a request path. Project paths nest (a/b/c) and can't
// contain a "-" segment, so "/-/" separates the project from the page.
// ok is false for anything that is not a page of this package.
func parseRoute(path string) (r route, ok bool) {
	switch path {
	case "/":
		return route{kind: routeHome}, true
	case "/users/sign_in":
		return route{kind: routeSignIn}, true
	case "/users/sign_out":
		return route{kind: routeSignOut}, true
	}
	if name, found := strings.CutPrefix(path, "/assets/web/"); found {
		if _, known := assetVersions[name]; known {
			return route{kind: routeAsset, asset: name}, true
		}
		return route{}, false
	}
	rest, found := strings.CutPrefix(path, "/")
	if !found || len(rest) > 4096 {
		return route{}, false
	}
	// "groups" is a reserved first segment, as in GitLab, so no project
	// lives below it: /groups/<full path>/-/... are a group's pages. A
	// group has only its settings here, no page of its own.
	if group, isGroup := strings.CutPrefix(rest, "groups/"); isGroup {
		full, page, sub := strings.Cut(group, "/-/")
		if !sub || tokens.ValidateGroupPath("path", full) != nil {
			return route{}, false
		}
		r.group = full
		return settingsRoute(r, page)
	}
	project, page, sub := strings.Cut(rest, "/-/")
	// Projects always live in a namespace; a single segment is a user or
	// group page, which this server does not have.
	if !strings.Contains(project, "/") || tokens.ValidateProjectPath("path", project) != nil {
		return route{}, false
	}
	r.project = project
	if !sub {
		r.kind = routeProject
		return r, true
	}
	return settingsRoute(r, page)
}

// settingsRoute reads page, the part of a path after a project's or a
// group's "/-/", into r.
func settingsRoute(r route, page string) (route, bool) {
	switch {
	case page == settingsSuffix:
		r.kind = routeSettings
	case page == tokensSuffix:
		r.kind = routeCreateToken
	case page == auditSuffix:
		r.kind = routeAuditEvents
	default:
		if ir, ok := identityRoute(r, page); ok {
			return ir, true
		}
		idRevoke, found := strings.CutPrefix(page, tokensSuffix+"/")
		if !found {
			return route{}, false
		}
		kind := routeRevokeToken
		id, found := strings.CutSuffix(idRevoke, "/revoke")
		if !found {
			kind = routeRotateToken
			id, found = strings.CutSuffix(idRevoke, "/rotate")
		}
		n, ok := tokens.ParseID(id)
		if !found || !ok {
			return route{}, false
		}
		r.kind, r.tokenID = kind, n
	}
	return r, true
}

// localPath answers p when it is a page of this package a browser may be
// sent back to after signing in, else "/". Anything else (another host, a
// scheme, "//", a backslash) could turn the redirect into an open one.
func localPath(p string) string {
	r, ok := parseRoute(p)
	if !ok {
		return "/"
	}
	switch r.kind {
	case routeHome, routeProject, routeSettings, routeAuditEvents:
		return p
	}
	return "/"
}

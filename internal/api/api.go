package api

import (
	"cmp"
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/auth"
	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/tokens"
)

// Authenticator checks a personal access token presented from addr,
// counting a refusal against addr (auth.Authenticator is one).
type Authenticator interface {
	PATFrom(ctx context.Context, addr, secret string) (auth.Principal, error)
	Banned(ctx context.Context, addr string) error
}

// API holds what the handlers need.
type API struct {
	Service     *tokens.Service
	Auth        Authenticator
	ExternalURL *url.URL
	// RegistryHost is host[:port] of the container registry, for CI.
	RegistryHost string
	// SigningKeys, when set, serves /admin/signing_keys.
	SigningKeys SigningKeys
}

type ctxKey struct{}

// Register mounts the API's routes on g (the /api/v4 group).
func (a *API) Register(g *echo.Group) {
	g.Use(a.authenticate)
	// Every read answers HEAD too, as GitLab's API does.
	get := func(path string, h echo.HandlerFunc) { g.Match([]string{http.MethodGet, http.MethodHead}, path, h) }
	get("/user", a.currentUser)
	g.POST("/users", a.createUser)
	g.POST("/users/:user_id/personal_access_tokens", a.createPAT)
	get("/personal_access_tokens/self", a.getOwnPAT)
	g.DELETE("/personal_access_tokens/self", a.revokeOwnPAT)
	get("/personal_access_tokens/:token_id", a.getPAT)
	g.DELETE("/personal_access_tokens/:token_id", a.revokePAT)
	get("/projects", a.listProjects)
	g.POST("/projects", a.createProject)
	get("/projects/:id", a.getProject)
	g.DELETE("/projects/:id", a.deleteProject)
	get("/projects/:id/members", a.listMembers)
	g.POST("/projects/:id/members", a.addMember)
	g.PUT("/projects/:id/members/:user_id", a.editMember)
	g.DELETE("/projects/:id/members/:user_id", a.removeMember)
	get("/projects/:id/deploy_tokens", a.unusedFor(a.listDeployTokens, projectScope))
	g.POST("/projects/:id/deploy_tokens", a.createDeployToken)
	get("/projects/:id/deploy_tokens/:token_id", a.getDeployToken)
	g.DELETE("/projects/:id/deploy_tokens/:token_id", a.revokeDeployToken)
	get("/deploy_tokens", a.unusedFor(a.listAllDeployTokens, allScope))
	get("/groups/:id/deploy_tokens", a.unusedFor(a.listGroupDeployTokens, groupScope))
	g.POST("/groups/:id/deploy_tokens", a.createGroupDeployToken)
	get("/groups/:id/deploy_tokens/:token_id", a.getGroupDeployToken)
	g.DELETE("/groups/:id/deploy_tokens/:token_id", a.revokeGroupDeployToken)
	g.POST("/projects/:id/deploy_tokens/:token_id/rotate", a.rotateDeployToken)
	g.POST("/groups/:id/deploy_tokens/:token_id/rotate", a.rotateGroupDeployToken)
	get("/projects/:id/ci/variables", a.ciVariables)
	get("/admin/reserved_paths", a.listReservedPaths)
	g.DELETE("/admin/reserved_paths/:path", a.releaseReservedPath)
	if a.SigningKeys != nil {
		get("/admin/signing_keys", a.listSigningKeys)
		g.POST("/admin/signing_keys/rotate", a.rotateSigningKey)
	}
	get("/users", a.listUsers)
	a.registerGets(get)
	g.POST("/users/:user_id/block", a.blockUser)
	g.POST("/users/:user_id/unblock", a.unblockUser)
	g.DELETE("/users/:user_id", a.deleteUser)
	get("/personal_access_tokens", a.listPATs)
	g.POST("/personal_access_tokens/self/rotate", a.rotateOwnPAT)
	g.POST("/personal_access_tokens/:token_id/rotate", a.rotatePAT)
	g.PUT("/projects/:id", a.updateProject)
	a.registerGroups(g, get)
	a.registerAudit(get)
	a.registerHooks(g, get)
	a.registerFederation(g, get)
	get("/version", a.version)
	get("/metadata", a.metadata)
	g.Any("/*", func(c echo.Context) error {
		if err := NotAllowed(c); err != nil {
			return err
		}
		return errNoRoute
	})
}

// NotAllowed answers 405, with the methods that do serve c's path in
// Allow, when a route other than a catch-all ("/*") serves it with another
// method; nil when none does. A catch-all answers every method, so echo
// would never answer 405 itself: the catch-all asks.
func NotAllowed(c echo.Context) error {
	allow := routedMethods(c)
	if len(allow) == 0 {
		return nil
	}
	c.Response().Header().Set("Allow", strings.Join(allow, ", "))
	return errMethod
}

// routedMethods answers the methods that a route other than a catch-all
// serves at c's path.
func routedMethods(c echo.Context) []string {
	e, path := c.Echo(), echo.GetPath(c.Request())
	var allow []string
	probe := e.AcquireContext()
	defer e.ReleaseContext(probe)
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe.Reset(nil, nil)
		e.Router().Find(m, path, probe)
		if p := probe.Path(); p != "" && !strings.HasSuffix(p, "/*") {
			allow = append(allow, m)
		}
	}
	return allow
}

// authenticate finds the caller; reads need read_api or api, writes api.
func (a *API) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		actor, err := a.actorOf(c)
		if err != nil {
			return err
		}
		need := []string{tokens.ScopeAPI}
		if c.Request().Method == http.MethodGet || c.Request().Method == http.MethodHead {
			need = append(need, tokens.ScopeReadAPI)
		}
		if !slices.ContainsFunc(need, func(s string) bool { return slices.Contains(actor.Scopes, s) }) {
			return tokens.ErrInsufficientAuth
		}
		c.Set("actor", actor)
		return next(c)
	}
}

// actorOf authenticates a request by PRIVATE-TOKEN or Authorization:
// Bearer. Other Authorization headers (the Basic of a proxy in front,
// python-gitlab's http_username) are not the API's credentials. Two
// credentials are refused, not chosen between.
func (a *API) actorOf(c echo.Context) (*tokens.Actor, error) {
	r := c.Request()
	creds := append([]string(nil), r.Header.Values("PRIVATE-TOKEN")...) // not the header's own slice
	for _, h := range r.Header.Values("Authorization") {
		if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			creds = append(creds, strings.TrimSpace(rest))
		}
	}
	if len(creds) > 1 {
		// A banned address hears that it is banned, whatever it sent.
		if err := a.Auth.Banned(r.Context(), c.RealIP()); err != nil {
			return nil, err
		}
		return nil, httperr.BadRequest("send one credential: a PRIVATE-TOKEN or a Bearer token, once")
	}
	var secret string
	if len(creds) == 1 {
		secret = creds[0]
	}
	p, err := a.Auth.PATFrom(auth.WithUserAgent(r.Context(), r.UserAgent()), c.RealIP(), secret)
	if err != nil {
		return nil, err
	}
	return &tokens.Actor{User: *p.User, Scopes: p.PAT.Scopes, PAT: p.PAT, From: c.RealIP()}, nil
}

func actor(c echo.Context) *tokens.Actor { return c.Get("actor").(*tokens.Actor) }

func ctx(c echo.Context) context.Context { return c.Request().Context() }

func rfc3339(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format("2006-01-02T15:04:05.000Z")
	return &s
}

type userJSON struct {
	publicUserJSON
	IsAdmin   bool    `json:"is_admin"`
	CreatedAt *string `json:"created_at"`
}

func (a *API) user(u tokens.User) userJSON {
	return userJSON{publicUserJSON: a.publicUser(u), IsAdmin: u.Admin, CreatedAt: rfc3339(&u.CreatedAt)}
}

func (a *API) currentUser(c echo.Context) error {
	return c.JSON(http.StatusOK, a.user(actor(c).User))
}

func (a *API) createUser(c echo.Context) error {
	p, err := readParams(c)
	if err != nil {
		return err
	}
	in := tokens.CreateUserInput{Username: p.str("username"), Name: p.str("name"), Admin: p.bool("admin")}
	if err := p.Err(); err != nil {
		return err
	}
	u, err := a.Service.CreateUser(ctx(c), actor(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, a.user(u))
}

type patJSON struct {
	ID         int64    `json:"id"`
	Name       string   `json:"name"`
	Revoked    bool     `json:"revoked"`
	CreatedAt  *string  `json:"created_at"`
	Scopes     []string `json:"scopes"`
	UserID     int64    `json:"user_id"`
	Active     bool     `json:"active"`
	ExpiresAt  *string  `json:"expires_at"`
	LastUsedAt *string  `json:"last_used_at"`
	Token      string   `json:"token,omitempty"`
	// LastUsedIP is the address of the last use (GitLab answers a list,
	// last_used_ips; one is what is kept here).
	LastUsedIP *string `json:"last_used_ip"`
}

func (a *API) createPAT(c echo.Context) error {
	uid, err := pathID(c, "user_id", tokens.ErrUserNotFound)
	if err != nil {
		return err
	}
	p, err := readParams(c)
	if err != nil {
		return err
	}
	in := tokens.CreatePATInput{Name: p.str("name"), Scopes: p.list("scopes"), ExpiresAt: p.str("expires_at")}
	if err := p.Err(); err != nil {
		return err
	}
	t, secret, err := a.Service.CreatePAT(ctx(c), actor(c), uid, in)
	if err != nil {
		return err
	}
	// The answer carries the secret: no cache may keep it.
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, patJSON{
		ID: t.ID, Name: t.Name, CreatedAt: rfc3339(&t.CreatedAt), Scopes: t.Scopes, UserID: t.UserID,
		Active: true, ExpiresAt: rfc3339(t.ExpiresAt), Token: secret.Reveal(),
	})
}

func pat(t tokens.PersonalAccessToken, now time.Time) patJSON {
	return patJSON{
		ID: t.ID, Name: t.Name, Revoked: t.Revoked, CreatedAt: rfc3339(&t.CreatedAt), Scopes: t.Scopes, UserID: t.UserID,
		Active: t.Active(now), ExpiresAt: rfc3339(t.ExpiresAt), LastUsedAt: rfc3339(t.LastUsedAt),
		LastUsedIP: optional(t.LastUsedIP),
	}
}

// errAdminTokenIsConfig: the admin token is configuration, not a record.
var errAdminTokenIsConfig = httperr.BadRequest("the admin token is configuration, not a stored token: replace DEPLOYTOKENS_ADMIN_TOKEN (or its file) to end it")

// getOwnPAT answers the token the request was made with.
func (a *API) getOwnPAT(c echo.Context) error {
	t := actor(c).PAT
	if t == nil {
		return tokens.ErrPATNotFound
	}
	return c.JSON(http.StatusOK, pat(*t, a.Service.Clock()))
}

// revokeOwnPAT revokes the token the request was made with.
func (a *API) revokeOwnPAT(c echo.Context) error {
	t := actor(c).PAT
	if t == nil {
		return tokens.ErrPATNotFound
	}
	if t.ID == 0 {
		return errAdminTokenIsConfig
	}
	if err := a.Service.RevokePAT(ctx(c), actor(c), t.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) getPAT(c echo.Context) error {
	id, err := pathID(c, "token_id", tokens.ErrPATNotFound)
	if err != nil {
		return err
	}
	t, err := a.Service.PAT(ctx(c), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pat(t, a.Service.Clock()))
}

func (a *API) revokePAT(c echo.Context) error {
	id, err := pathID(c, "token_id", tokens.ErrPATNotFound)
	if err != nil {
		return err
	}
	if err := a.Service.RevokePAT(ctx(c), actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type projectJSON struct {
	ID                int64   `json:"id"`
	Name              string  `json:"name"`
	Path              string  `json:"path"`
	NameWithNamespace string  `json:"name_with_namespace"`
	PathWithNamespace string  `json:"path_with_namespace"`
	Visibility        string  `json:"visibility"`
	HTTPURLToRepo     string  `json:"http_url_to_repo"`
	WebURL            string  `json:"web_url"`
	CreatedAt         *string `json:"created_at"`
	CreatorID         int64   `json:"creator_id"`
	// Namespace is set by projectView.
	Namespace *namespaceJSON `json:"namespace,omitempty"`
}

func (a *API) project(p tokens.Project) projectJSON {
	name := cmp.Or(p.Name, p.Path)                        // a project stored before it had a name
	ns := strings.TrimSuffix(p.PathWithNamespace, p.Path) // "group/sub/", slash and all
	return projectJSON{
		ID: p.ID, Name: name, Path: p.Path, PathWithNamespace: p.PathWithNamespace,
		NameWithNamespace: strings.ReplaceAll(ns, "/", " / ") + name,
		Visibility:        string(p.Visibility), HTTPURLToRepo: a.ExternalURL.JoinPath(p.PathWithNamespace + ".git").String(),
		WebURL: a.ExternalURL.JoinPath(p.PathWithNamespace).String(), CreatedAt: rfc3339(&p.CreatedAt), CreatorID: p.CreatorID,
	}
}

func (a *API) createProject(c echo.Context) error {
	p, err := readParams(c)
	if err != nil {
		return err
	}
	// GitLab derives the path from name when only name is given.
	in := tokens.CreateProjectInput{Path: cmp.Or(p.str("path"), p.str("name")), NamespacePath: p.str("namespace_path"), Visibility: p.str("visibility"), Name: p.str("name")}
	if p.has("namespace_id") {
		if s := p.str("namespace_id"); s != "" && s != "0" {
			if in.NamespaceID = p.int("namespace_id", 0); p.Err() == nil && in.NamespaceID <= 0 {
				return tokens.Invalid("namespace_id", "must be a positive integer")
			}
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	proj, err := a.Service.CreateProject(ctx(c), actor(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, a.projectView(c)(proj))
}

func (a *API) getProject(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	p, _, err := a.Service.ProjectFor(ctx(c), actor(c), ref, 0)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.projectView(c)(p))
}

func (a *API) deleteProject(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	d, err := a.Service.DeleteProject(ctx(c), actor(c), ref)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, deletedJSON(d))
}

type memberJSON struct {
	userJSON
	AccessLevel int `json:"access_level"`
}

func (a *API) member(m tokens.MemberView) memberJSON {
	j := memberJSON{userJSON: a.user(m.User), AccessLevel: int(m.AccessLevel)}
	j.CreatedAt = rfc3339(&m.CreatedAt)
	return j
}

func (a *API) listMembers(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	return servePage(c, a.ExternalURL, func(p tokens.Page) ([]tokens.MemberView, int, error) {
		return a.Service.PageMembers(ctx(c), actor(c), ref, p)
	}, a.member)
}

func (a *API) addMember(c echo.Context) error  { return a.setMember(c, true) }
func (a *API) editMember(c echo.Context) error { return a.setMember(c, false) }

func (a *API) setMember(c echo.Context, create bool) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	p, err := readParams(c)
	if err != nil {
		return err
	}
	var uid int64
	if create {
		switch uid = p.int("user_id", 0); {
		case p.Err() != nil:
		case !p.has("user_id"):
			return tokens.Invalid("user_id", "is missing")
		case uid <= 0:
			return tokens.Invalid("user_id", "must be a positive integer")
		}
	} else if uid, err = pathID(c, "user_id", tokens.ErrMemberNotFound); err != nil {
		return err
	}
	level := p.int("access_level", 0)
	if err := p.Err(); err != nil {
		return err
	}
	if !p.has("access_level") {
		return tokens.Invalid("access_level", "is missing")
	}
	m, err := a.Service.SetMember(ctx(c), actor(c), ref, uid, tokens.AccessLevel(level), create)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if create {
		status = http.StatusCreated
	}
	return c.JSON(status, a.member(m))
}

func (a *API) removeMember(c echo.Context) error {
	ref, uid, err := projectAndID(c, "user_id", tokens.ErrMemberNotFound)
	if err != nil {
		return err
	}
	if err := a.Service.RemoveMember(ctx(c), actor(c), ref, uid); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// DeployTokenJSON is a deploy token as GitLab's API shows it.
type DeployTokenJSON struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Username  string   `json:"username"`
	ExpiresAt *string  `json:"expires_at"`
	Revoked   bool     `json:"revoked"`
	Expired   bool     `json:"expired"`
	Scopes    []string `json:"scopes"`
	Token     string   `json:"token,omitempty"`
	// Fields GitLab lacks (see lastuse.go).
	lastUseJSON
}

func (a *API) deployToken(t tokens.DeployToken) DeployTokenJSON {
	return DeployTokenJSON{
		ID: t.ID, Name: t.Name, Username: t.Username, ExpiresAt: rfc3339(t.ExpiresAt),
		Revoked: t.Revoked, Expired: t.Expired(a.Service.Clock()), Scopes: t.Scopes,
		lastUseJSON: deployTokenLastUse(&t, a.Service.Clock()),
	}
}

func activeParam(c echo.Context) (bool, error) {
	v := c.QueryParam("active")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, tokens.Invalid("active", "must be true or false")
	}
	return b, nil
}

func (a *API) listAllDeployTokens(c echo.Context) error {
	active, err := activeParam(c)
	if err != nil {
		return err
	}
	return servePage(c, a.ExternalURL, func(p tokens.Page) ([]tokens.DeployToken, int, error) {
		return a.Service.PageAllDeployTokens(ctx(c), actor(c), active, p)
	}, a.deployToken)
}

func (a *API) getDeployToken(c echo.Context) error {
	ref, id, err := projectAndID(c, "token_id", tokens.ErrTokenNotFound)
	if err != nil {
		return err
	}
	t, err := a.Service.DeployToken(ctx(c), actor(c), ref, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.deployToken(t))
}

func (a *API) createDeployToken(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	p, err := readParams(c)
	if err != nil {
		return err
	}
	in := tokens.CreateDeployTokenInput{Name: p.str("name"), Username: p.str("username"), Scopes: p.list("scopes"), ExpiresAt: p.str("expires_at")}
	if err := p.Err(); err != nil {
		return err
	}
	t, secret, err := a.Service.CreateDeployToken(ctx(c), actor(c), ref, in)
	if err != nil {
		return err
	}
	j := a.deployToken(t)
	j.Token = secret.Reveal()
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, j)
}

func (a *API) revokeDeployToken(c echo.Context) error {
	ref, id, err := projectAndID(c, "token_id", tokens.ErrTokenNotFound)
	if err != nil {
		return err
	}
	if err := a.Service.RevokeDeployToken(ctx(c), actor(c), ref, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// paginate answers one page of items with GitLab's pagination headers.
func paginate[T, J any](c echo.Context, base *url.URL, items []T, view func(T) J) error {
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	total := len(items)
	start := min((page-1)*perPage, total)
	end := min(start+perPage, total)
	return writePage(c, base, items[start:end], total, page, perPage, view)
}

// pageParams reads page and per_page, with GitLab's defaults and limit.
func pageParams(c echo.Context) (page, perPage int, err error) {
	if page, err = pageParam(c, "page", 1, 0); err != nil {
		return 0, 0, err
	}
	if perPage, err = pageParam(c, "per_page", 20, 100); err != nil {
		return 0, 0, err
	}
	return page, perPage, nil
}

// writePage answers items, page of perPage of total, with GitLab's
// pagination headers.
// pageOfSlice answers the page asked of items, for the short lists that
// are read whole (a project's hooks, at most MaxHooks; a token's
// federated identities) and paged as GitLab pages every list.
func pageOfSlice[T any](items []T, page, perPage int) []T {
	from := min((page-1)*perPage, len(items))
	return items[from:min(from+perPage, len(items))]
}

func writePage[T, J any](c echo.Context, base *url.URL, items []T, total, page, perPage int, view func(T) J) error {
	setPageHeaders(c, base, total, page, perPage)
	return writeItems(c, items, view)
}

// writeItems answers items as a JSON array, each through view.
func writeItems[T, J any](c echo.Context, items []T, view func(T) J) error {
	out := make([]J, 0, len(items))
	for _, it := range items {
		out = append(out, view(it))
	}
	return c.JSON(http.StatusOK, out)
}

// setPageHeaders sets GitLab's pagination headers for page of perPage of
// total; they must be set before the body is written to be sent.
func setPageHeaders(c echo.Context, base *url.URL, total, page, perPage int) {
	h := c.Response().Header()
	totalPages := max(1, (total+perPage-1)/perPage)
	h.Set("X-Total", strconv.Itoa(total))
	h.Set("X-Total-Pages", strconv.Itoa(totalPages))
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	links := []string{}
	link := func(p int, rel string) string {
		// Absolute, as GitLab's: clients such as python-gitlab follow
		// the link as it is.
		u := *base
		r := c.Request().URL
		u.Path = strings.TrimSuffix(base.Path, "/") + r.Path
		u.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + r.EscapedPath()
		q := c.Request().URL.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = q.Encode()
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	if page < totalPages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
		links = append(links, link(page+1, "next"))
	}
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
		links = append(links, link(page-1, "prev"))
	}
	links = append(links, link(1, "first"), link(totalPages, "last"))
	h.Set("Link", strings.Join(links, ", "))
}

// pageParam reads a positive page parameter; values over limit (when
// limit > 0) are lowered to it, as GitLab does with per_page.
func pageParam(c echo.Context, name string, def, limit int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, tokens.Invalid(name, "must be a positive integer")
	}
	if limit > 0 && n > limit {
		n = limit
	}
	if n > 1<<20 {
		n = 1 << 20
	}
	return n, nil
}

// ciVariables answers a CI job's variables as JSON, or as dotenv lines with
// ?format=dotenv or Accept: text/plain.
func (a *API) ciVariables(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	switch format {
	case "", "json", "dotenv":
	default:
		return tokens.Invalid("format", "must be json or dotenv")
	}
	vars, warning, err := a.Service.CIVariables(ctx(c), actor(c), ref, a.RegistryHost, a.ExternalURL.String())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if warning != "" {
		c.Response().Header().Set("X-Deploy-Token-Warning", warning)
	}
	if format == "dotenv" || (format == "" && prefersText(c.Request().Header.Values("Accept"))) {
		return c.String(http.StatusOK, tokens.Dotenv(vars, ""))
	}
	return c.JSON(http.StatusOK, vars)
}

// prefersText reports whether Accept ranks text/plain (or text/*) above
// JSON (application/json, application/* or */*), by their q values (RFC 9110
// §12.5.1); a type given q=0 is refused, not chosen.
func prefersText(accept []string) bool {
	q := map[string]float64{}
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			mt, ps, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			w := 1.0
			if v, ok := ps["q"]; ok {
				if w, err = strconv.ParseFloat(v, 64); err != nil || w < 0 || w > 1 {
					continue
				}
			}
			q[mt] = max(q[mt], w)
		}
	}
	text, ok := q["text/plain"]
	if !ok {
		text = q["text/*"]
	}
	json, ok := q["application/json"]
	if !ok {
		json = max(q["application/*"], q["*/*"])
	}
	return text > 0 && text > json
}

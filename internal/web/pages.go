package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deploytokens/deploytokens/auth"
	"github.com/deploytokens/deploytokens/tokens"
)

type signInData struct {
	Username   string
	RedirectTo string
	Error      string
}

func (h *Handler) signInPage(rq *request) error {
	redirect := localPath(rq.c.QueryParam("redirect_to"))
	if rq.user != nil {
		return rq.c.Redirect(http.StatusSeeOther, h.base()+redirect)
	}
	if rq.anon == "" {
		rq.anon = newAnonCSRF()
		rq.c.SetCookie(h.cookie(csrfCookie, rq.anon, 0))
	}
	h.render(rq, http.StatusOK, "signin", "Sign in", signInData{RedirectTo: redirect})
	return nil
}

// signIn checks a username and personal access token (the user's own,
// active, with api or read_api) and starts a session. Failures count
// against the client address like failed git or registry logins.
func (h *Handler) signIn(rq *request) error {
	ctx, form := rq.ctx(), rq.c.Request().PostForm
	data := signInData{Username: strings.TrimSpace(form.Get("username")), RedirectTo: localPath(form.Get("redirect_to"))}
	addr := rq.c.RealIP()
	if h.Limiter != nil {
		if err := h.Limiter.Check(ctx, addr); err != nil {
			return err
		}
	}
	password := strings.TrimSpace(form.Get("password"))
	// A form that holds no username and token to check is bad input, not
	// a failed sign-in to count against the address.
	switch {
	case data.Username == "" || password == "":
		data.Error = "Enter your username and a personal access token."
		h.render(rq, http.StatusUnprocessableEntity, "signin", "Sign in", data)
		return nil
	case !auth.WellFormedUsername(data.Username) || !utf8.ValidString(password):
		data.Username = strings.ToValidUTF8(data.Username, "\uFFFD")
		data.Error = "The username or token is not valid UTF-8 text, or holds a NUL or a line break."
		h.render(rq, http.StatusBadRequest, "signin", "Sign in", data)
		return nil
	}
	p, err := h.Auth.Check(ctx, data.Username, password)
	if err == nil && (p.Kind != auth.UserKind || p.PAT == nil) {
		// A deploy token's username and secret are no way into the web.
		err = auth.ErrDenied
	}
	if errors.Is(err, auth.ErrDenied) {
		if h.Limiter != nil {
			h.Limiter.Fail(ctx, addr)
		}
		data.Error = "Invalid username or personal access token."
		h.render(rq, http.StatusUnauthorized, "signin", "Sign in", data)
		return nil
	}
	if err != nil {
		return err
	}
	if !p.PAT.HasScope(tokens.ScopeAPI, tokens.ScopeReadAPI) {
		data.Error = "This personal access token can't sign in: it needs the api scope (or read_api to look only)."
		h.render(rq, http.StatusForbidden, "signin", "Sign in", data)
		return nil
	}
	ttl := h.sessionTTL()
	// The session ends no later than the token it was opened with.
	if exp := p.PAT.ExpiresAt; exp != nil && exp.Sub(h.Service.Clock()) < ttl {
		ttl = exp.Sub(h.Service.Clock())
	}
	if ttl < time.Second {
		data.Error = "This personal access token expires too soon to sign in with."
		h.render(rq, http.StatusForbidden, "signin", "Sign in", data)
		return nil
	}
	if rq.secret != "" {
		// Never carry a session over a sign-in (fixation).
		if err := h.deleteSession(ctx, rq.secret); err != nil {
			return err
		}
	}
	secret, err := h.createSession(ctx, session{UserID: p.User.ID, Scopes: p.PAT.Scopes, PATDigest: p.Digest}, ttl)
	if err != nil {
		return err
	}
	h.log().InfoContext(ctx, "web sign-in", "user", p.User.Username)
	rq.c.SetCookie(h.cookie(sessionCookie, secret.Reveal(), int(ttl.Seconds())))
	rq.c.SetCookie(h.cookie(csrfCookie, "", -1))
	return rq.c.Redirect(http.StatusSeeOther, h.base()+data.RedirectTo)
}

// signOut deletes the session in the store, so its cookie stops working on
// every replica, not only in this browser.
func (h *Handler) signOut(rq *request) error {
	if rq.secret != "" {
		if err := h.deleteSession(rq.ctx(), rq.secret); err != nil {
			return err
		}
	}
	rq.c.SetCookie(h.cookie(sessionCookie, "", -1))
	return rq.c.Redirect(http.StatusSeeOther, h.base()+"/users/sign_in")
}

type homeData struct {
	Projects []tokens.Project
	// Total, Page, Prev and Next page the list as GitLab's project list
	// does: homePerPage to a page, ?page=N, links to the neighbours ("" at
	// an end).
	Total      int
	Page       int
	Prev, Next string
	// Admin shows an administrator with no project how to create one:
	// "ask a maintainer" is no answer for the one who creates projects,
	// and the API is where that is done.
	Admin bool
	// API is the REST API's base URL, for the calls shown.
	API string
}

// homePerPage is how many projects a page of the home list shows, as
// GitLab's project list does.
const homePerPage = 20

// home lists the projects the user sees a page at a time, from the index
// GET /projects reads (issue 21): the cost is the page, not every project.
func (h *Handler) home(rq *request) error {
	pageNo := 1
	if v := rq.c.Request().URL.Query().Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return page(http.StatusBadRequest, "Bad request", "The page parameter must be a positive number.")
		}
		pageNo = n
	}
	q := tokens.ProjectQuery{Page: tokens.Page{Offset: (pageNo - 1) * homePerPage, Limit: homePerPage}}
	ps, total, _, err := h.Service.PageVisibleProjects(rq.ctx(), rq.actor(), q)
	if err != nil {
		return err
	}
	d := homeData{Projects: ps, Total: total, Page: pageNo, Admin: rq.user.Admin, API: h.ExternalURL.JoinPath("api", "v4").String()}
	link := func(n int) string { return h.base() + "/?page=" + strconv.Itoa(n) }
	if pageNo > 1 {
		d.Prev = link(pageNo - 1)
	}
	if pageNo*homePerPage < total {
		d.Next = link(pageNo + 1)
	}
	h.render(rq, http.StatusOK, "home", "Projects", d)
	return nil
}

type projectData struct {
	Project        tokens.Project
	Role           string
	CanManage      bool
	CloneURL       string
	CloneWithToken string
	RegistryImage  string
	DockerLogin    string
}

var roleNames = map[tokens.AccessLevel]string{
	tokens.Guest: "Guest", tokens.Reporter: "Reporter", tokens.Developer: "Developer",
	tokens.Maintainer: "Maintainer", tokens.Owner: "Owner",
}

// project shows how to use a project with a deploy token, as the seed's
// Usage section does.
func (h *Handler) project(rq *request) error {
	p, level, err := h.Service.ProjectFor(rq.ctx(), rq.actor(), rq.route.project, 0)
	if err != nil {
		return err
	}
	u := h.ExternalURL.JoinPath(p.PathWithNamespace + ".git")
	d := projectData{
		Project:        p,
		Role:           roleNames[level],
		CanManage:      level >= tokens.Maintainer,
		CloneURL:       u.String(),
		CloneWithToken: "git clone " + strings.Replace(u.String(), "://", "://<username>:<token>@", 1),
		RegistryImage:  h.RegistryHost + "/" + strings.ToLower(p.PathWithNamespace),
		DockerLogin:    fmt.Sprintf("docker login %s -u <username> -p <token>", h.RegistryHost),
	}
	if rq.user.Admin {
		d.Role = "Administrator"
	}
	h.render(rq, http.StatusOK, "project", p.PathWithNamespace, d)
	return nil
}

// tokenForm is the create form's input, kept to show it again with its
// errors.
type tokenForm struct {
	Name      string
	Username  string
	ExpiresAt string
	Scopes    []string
}

type scopeOption struct {
	Name        string
	Description string
	Checked     bool
}

type settingsData struct {
	Owner     owner
	CanWrite  bool
	Open      bool
	Notice    string
	NewToken  *newToken
	Form      tokenForm
	Options   []scopeOption
	Errors    map[string]string
	General   []string
	Active    []tokenRow
	Inactive  []tokenRow
	MinExpiry string
	// Federation is the federated identities part, nil when no OIDC
	// issuer is allowed.
	Federation *federationData
}

type tokenRow struct {
	tokens.DeployToken
	Status string
	// LastUsed is the last use in words ("Last used 3 days ago",
	// "Never"): see lastuse.go.
	LastUsed string
}

// settings is GitLab's Settings › Repository page with its Deploy tokens
// section, of a project or a group, for maintainers, owners and admins;
// others get 404.
func (h *Handler) settings(rq *request) error {
	o, err := h.tokenOwner(rq)
	if err != nil {
		return err
	}
	d, err := h.settingsData(rq, o, tokenForm{})
	if err != nil {
		return err
	}
	if d.Federation, err = h.federation(rq.ctx(), rq.actor(), o, d.Active, identityForm{}); err != nil {
		return err
	}
	if f := rq.flash; o.owns(f) {
		d.Notice, d.NewToken = f.Notice, f.NewToken
		d.Open = true
	}
	h.render(rq, http.StatusOK, "settings", "Repository settings · "+o.Path, d)
	return nil
}

func (h *Handler) settingsData(rq *request, o owner, form tokenForm) (settingsData, error) {
	ts, err := h.listTokens(rq.ctx(), rq.actor(), o)
	if err != nil {
		return settingsData{}, err
	}
	now := h.Service.Clock()
	d := settingsData{Owner: o, CanWrite: rq.session.canWrite(), Form: form,
		MinExpiry: now.AddDate(0, 0, 1).Format("2006-01-02")}
	for _, t := range ts {
		switch {
		case t.Active(now):
			d.Active = append(d.Active, tokenRow{t, "", lastUsed(t.LastUsedAt, now)})
		case t.Revoked:
			d.Inactive = append(d.Inactive, tokenRow{t, "Revoked", lastUsed(t.LastUsedAt, now)})
		default:
			d.Inactive = append(d.Inactive, tokenRow{t, "Expired", lastUsed(t.LastUsedAt, now)})
		}
	}
	for _, s := range tokens.DeployTokenScopes {
		checked := false
		for _, f := range form.Scopes {
			checked = checked || f == s
		}
		d.Options = append(d.Options, scopeOption{Name: s, Description: scopeDescriptions[s], Checked: checked})
	}
	return d, nil
}

// fieldLabels name the form's fields as the page labels them; the
// service's errors start with the field's parameter name.
var fieldLabels = map[string]string{
	"name": "Name", "username": "Username", "expires_at": "Expiration date", "scopes": "Scopes",
}

// fieldErrors sorts the service's validation errors by field, worded for
// the page; errors that name no field are general.
func fieldErrors(errs []error) (map[string]string, []string) {
	byField := map[string]string{}
	var general []string
	for _, err := range errs {
		msg := err.Error()
		field, rest, _ := strings.Cut(msg, " ")
		label, ok := fieldLabels[field]
		switch {
		case !ok:
			general = append(general, msg)
		case byField[field] != "":
		case field == "scopes" && rest == "is missing":
			byField[field] = "Select at least one scope."
		default:
			byField[field] = label + " " + rest + "."
		}
	}
	return byField, general
}

// createToken validates the whole form first, so nothing is created unless
// every field is right; then it creates the token and redirects to the
// settings page, which shows the secret once from a flash.
func (h *Handler) createToken(rq *request) error {
	ctx := rq.ctx()
	o, err := h.tokenOwner(rq)
	if err != nil {
		return err
	}
	if !rq.session.canWrite() {
		return errReadOnly
	}
	f := rq.c.Request().PostForm
	form := tokenForm{Name: f.Get("name"), Username: strings.TrimSpace(f.Get("username")),
		ExpiresAt: strings.TrimSpace(f.Get("expires_at")), Scopes: f["scopes"]}
	in := tokens.CreateDeployTokenInput{Name: form.Name, Username: form.Username, Scopes: form.Scopes, ExpiresAt: form.ExpiresAt}
	_, errs := h.Service.ValidateDeployToken(in)
	if len(errs) == 0 {
		t, secret, err := h.createTokenFor(ctx, rq.actor(), o, in)
		if err == nil {
			return h.created(rq, o, t, secret.Reveal())
		}
		if tokens.KindOf(err) != tokens.KindInvalid {
			return err
		}
		errs = []error{err}
	}
	d, err := h.settingsData(rq, o, form)
	if err != nil {
		return err
	}
	d.Errors, d.General = fieldErrors(errs)
	d.Open = true
	h.render(rq, http.StatusUnprocessableEntity, "settings", "Repository settings · "+o.Path, d)
	return nil
}

// created hands the new secret to the next page view through the flash.
// A token whose secret can't be shown is useless, so it is revoked.
func (h *Handler) created(rq *request, o owner, t tokens.DeployToken, secret string) error {
	f := o.flash("Your new "+o.Kind+" deploy token has been created.",
		&newToken{ID: t.ID, Name: t.Name, Username: t.Username, Secret: secret})
	id, err := h.putFlash(rq.ctx(), rq.secret, f)
	if err != nil {
		if rerr := h.revokeTokenOf(context.WithoutCancel(rq.ctx()), rq.actor(), o, t.ID); rerr != nil {
			h.log().ErrorContext(rq.ctx(), "revoke a deploy token whose secret could not be shown", "token_id", t.ID, "err", rerr)
		}
		return err
	}
	return rq.c.Redirect(http.StatusSeeOther, h.flashURL(o, id))
}

func (h *Handler) settingsURL(o owner) string {
	return h.base() + o.Settings()
}

// flashURL is the settings page that shows the flash id.
func (h *Handler) flashURL(o owner, id string) string {
	return h.settingsURL(o) + "?flash=" + id + "#js-deploy-tokens"
}

type revokeData struct {
	Owner owner
	Token tokens.DeployToken
}

// revokePage asks for confirmation; it is a page of its own so revoking
// needs no JavaScript.
func (h *Handler) revokePage(rq *request) error {
	o, t, err := h.ownerToken(rq)
	if err != nil {
		return err
	}
	if !t.Active(h.Service.Clock()) {
		return rq.c.Redirect(http.StatusSeeOther, h.settingsURL(o))
	}
	h.render(rq, http.StatusOK, "revoke", "Revoke deploy token "+t.Name, revokeData{Owner: o, Token: t})
	return nil
}

func (h *Handler) revokeToken(rq *request) error {
	o, t, err := h.ownerToken(rq)
	if err != nil {
		return err
	}
	if !rq.session.canWrite() {
		return errReadOnly
	}
	if err := h.revokeTokenOf(rq.ctx(), rq.actor(), o, t.ID); err != nil {
		return err
	}
	notice := fmt.Sprintf("Revoked deploy token %s (%s).", t.Name, t.Username)
	id, err := h.putFlash(rq.ctx(), rq.secret, o.flash(notice, nil))
	if err != nil {
		return err
	}
	return rq.c.Redirect(http.StatusSeeOther, h.flashURL(o, id))
}

// ownerToken finds the route's project or group (maintainers only) and
// the token of it the route names.
func (h *Handler) ownerToken(rq *request) (owner, tokens.DeployToken, error) {
	o, err := h.tokenOwner(rq)
	if err != nil {
		return o, tokens.DeployToken{}, err
	}
	t, err := h.getToken(rq.ctx(), rq.actor(), o, rq.route.tokenID)
	return o, t, err
}

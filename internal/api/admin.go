package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/internal/version"
	"github.com/deploytokens/deploytokens/tokens"
)

// publicUserJSON is what GitLab shows of a user to anyone signed in.
type publicUserJSON struct {
	ID        int64   `json:"id"`
	Username  string  `json:"username"`
	Name      string  `json:"name"`
	State     string  `json:"state"`
	AvatarURL *string `json:"avatar_url"`
	WebURL    string  `json:"web_url"`
}

func (a *API) publicUser(u tokens.User) publicUserJSON {
	state := "active"
	if u.Blocked {
		state = "blocked"
	}
	return publicUserJSON{ID: u.ID, Username: u.Username, Name: u.Name, State: state, WebURL: a.ExternalURL.JoinPath(u.Username).String()}
}

// listUsers answers GET /users: admins see every field, others the public
// ones, as in GitLab. username and blocked are answered from indexes;
// search reads the users.
func (a *API) listUsers(c echo.Context) error {
	p, err := readParams(c)
	if err != nil {
		return err
	}
	q := tokens.UserQuery{Username: p.str("username"), Search: p.str("search"), Blocked: p.bool("blocked")}
	if err := p.Err(); err != nil {
		return err
	}
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	q.Page = tokens.Page{Offset: (page - 1) * perPage, Limit: perPage}
	me := actor(c)
	us, total, err := a.Service.ListUsers(ctx(c), me, q)
	if err != nil {
		return err
	}
	if me.User.Admin {
		return writePage(c, a.ExternalURL, us, total, page, perPage, a.user)
	}
	return writePage(c, a.ExternalURL, us, total, page, perPage, a.publicUser)
}

func (a *API) blockUser(c echo.Context) error   { return a.setBlocked(c, true) }
func (a *API) unblockUser(c echo.Context) error { return a.setBlocked(c, false) }

// setBlocked answers 201 true, as GitLab does, also when the user already
// was in that state.
func (a *API) setBlocked(c echo.Context, blocked bool) error {
	id, err := pathID(c, "user_id", tokens.ErrUserNotFound)
	if err != nil {
		return err
	}
	if err := a.Service.BlockUser(ctx(c), actor(c), id, blocked); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, true)
}

func (a *API) deleteUser(c echo.Context) error {
	id, err := pathID(c, "user_id", tokens.ErrUserNotFound)
	if err != nil {
		return err
	}
	if err := a.Service.DeleteUser(ctx(c), actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listPATs answers GET /personal_access_tokens: an admin's is everyone's
// (or user_id's), anyone else's their own.
func (a *API) listPATs(c echo.Context) error {
	p, err := readParams(c)
	if err != nil {
		return err
	}
	var uid int64
	if p.has("user_id") {
		if uid = p.int("user_id", 0); p.Err() == nil && uid <= 0 {
			return tokens.Invalid("user_id", "must be a positive integer")
		}
	}
	if err := p.Err(); err != nil {
		return err
	}
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	ts, total, err := a.Service.ListPATs(ctx(c), actor(c), uid, tokens.Page{Offset: (page - 1) * perPage, Limit: perPage})
	if err != nil {
		return err
	}
	now := a.Service.Clock()
	return writePage(c, a.ExternalURL, ts, total, page, perPage, func(t tokens.PersonalAccessToken) patJSON { return pat(t, now) })
}

func (a *API) rotatePAT(c echo.Context) error {
	id, err := pathID(c, "token_id", tokens.ErrPATNotFound)
	if err != nil {
		return err
	}
	return a.rotate(c, id)
}

// rotateOwnPAT rotates the token the request was made with.
func (a *API) rotateOwnPAT(c echo.Context) error {
	t := actor(c).PAT
	if t == nil {
		return tokens.ErrPATNotFound
	}
	if t.ID == 0 {
		return errAdminTokenIsConfig
	}
	return a.rotate(c, t.ID)
}

// rotate answers 200 with the new token and its secret, as GitLab does.
func (a *API) rotate(c echo.Context, id int64) error {
	p, err := readParams(c)
	if err != nil {
		return err
	}
	expires, grace := p.str("expires_at"), p.str("grace")
	if err := p.Err(); err != nil {
		return err
	}
	t, secret, err := a.Service.RotatePAT(ctx(c), actor(c), id, expires, grace)
	if err != nil {
		return err
	}
	j := pat(t, a.Service.Clock())
	j.Token = secret.Reveal()
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, j)
}

// updateProject answers PUT /projects/:id, which changes name and
// visibility; other fields GitLab takes are not kept here and are ignored.
func (a *API) updateProject(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	p, err := readParams(c)
	if err != nil {
		return err
	}
	var in tokens.UpdateProjectInput
	if p.has("name") {
		v := p.str("name")
		in.Name = &v
	}
	if p.has("visibility") {
		v := p.str("visibility")
		in.Visibility = &v
	}
	if err := p.Err(); err != nil {
		return err
	}
	proj, err := a.Service.UpdateProject(ctx(c), actor(c), ref, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.projectView(c)(proj))
}

type versionJSON struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
}

// version answers GET /version: this server's version, not a GitLab one.
func (a *API) version(c echo.Context) error {
	v := version.Get()
	return c.JSON(http.StatusOK, versionJSON{Version: v.Version, Revision: v.Revision})
}

type metadataJSON struct {
	versionJSON
	KAS struct {
		Enabled             bool    `json:"enabled"`
		ExternalURL         *string `json:"externalUrl"`
		ExternalK8sProxyURL *string `json:"externalK8sProxyUrl"`
		Version             *string `json:"version"`
	} `json:"kas"`
	Enterprise bool `json:"enterprise"`
}

// metadata answers GET /metadata in GitLab's shape: no agent server (KAS),
// not the enterprise edition.
func (a *API) metadata(c echo.Context) error {
	v := version.Get()
	return c.JSON(http.StatusOK, metadataJSON{versionJSON: versionJSON{Version: v.Version, Revision: v.Revision}})
}

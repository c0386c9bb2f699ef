package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// registerGets mounts the single-record reads python-gitlab's get() and
// save() need (GET /users/:id, .../members/:user_id), which answered 405.
func (a *API) registerGets(get func(string, echo.HandlerFunc)) {
	get("/users/:user_id", a.getUser)
	get("/projects/:id/members/:user_id", a.getMember)
	get("/groups/:id/members/:user_id", a.getGroupMember)
}

func (a *API) getUser(c echo.Context) error {
	id, err := pathID(c, "user_id", tokens.ErrUserNotFound)
	if err != nil {
		return err
	}
	me := actor(c)
	u, err := a.Service.GetUser(ctx(c), me, id)
	if err != nil {
		return err
	}
	if me.User.Admin || me.User.ID == u.ID {
		return c.JSON(http.StatusOK, a.user(u))
	}
	return c.JSON(http.StatusOK, a.publicUser(u))
}

func (a *API) getMember(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	uid, err := pathID(c, "user_id", tokens.ErrMemberNotFound)
	if err != nil {
		return err
	}
	m, err := a.Service.GetMember(ctx(c), actor(c), ref, uid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.member(m))
}

func (a *API) getGroupMember(c echo.Context) error {
	ref, err := groupRef(c)
	if err != nil {
		return err
	}
	uid, err := pathID(c, "user_id", tokens.ErrMemberNotFound)
	if err != nil {
		return err
	}
	m, err := a.Service.GetGroupMember(ctx(c), actor(c), ref, uid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.member(m))
}

package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// Rotation of deploy tokens: POST /projects/:id/deploy_tokens/:token_id/rotate
// and its group form. GitLab has no such call for deploy tokens; it
// follows GitLab's rotate calls of other tokens (200 with the token and its
// new secret once), keeping the ID, and takes grace: how long the replaced
// secret keeps working (seconds, or a duration like 30m, 24h or 7d;
// default 24h, 0 ends it at once).

func (a *API) rotateDeployToken(c echo.Context) error {
	ref, id, err := projectAndID(c, "token_id", tokens.ErrTokenNotFound)
	if err != nil {
		return err
	}
	grace, err := graceParam(c)
	if err != nil {
		return err
	}
	t, secret, err := a.Service.RotateDeployToken(ctx(c), actor(c), ref, id, grace)
	if err != nil {
		return err
	}
	return a.rotatedDeployToken(c, t, secret)
}

func (a *API) rotateGroupDeployToken(c echo.Context) error {
	ref, id, err := groupTokensRefAndID(c)
	if err != nil {
		return err
	}
	grace, err := graceParam(c)
	if err != nil {
		return err
	}
	t, secret, err := a.Service.RotateGroupDeployToken(ctx(c), actor(c), ref, id, grace)
	if err != nil {
		return err
	}
	return a.rotatedDeployToken(c, t, secret)
}

// graceParam reads the grace field of a rotation ("" when absent).
func graceParam(c echo.Context) (string, error) {
	p, err := readParams(c)
	if err != nil {
		return "", err
	}
	grace := p.str("grace")
	return grace, p.Err()
}

func (a *API) rotatedDeployToken(c echo.Context, t tokens.DeployToken, secret tokens.Secret) error {
	j := a.deployToken(t)
	j.Token = secret.Reveal()
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, j)
}

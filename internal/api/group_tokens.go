package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// Group deploy tokens: GitLab's /groups/:id/deploy_tokens, with the
// fields and answers of project deploy tokens.

// groupTokensRef answers the :id path parameter: a group id or a full
// path.
func groupTokensRef(c echo.Context) (string, error) {
	ref, ok := pathParam(c, "id")
	if !ok || ref == "" {
		return "", tokens.Invalid("id", "must be a group id or a URL-encoded path")
	}
	return ref, nil
}

// groupTokensRefAndID answers the :id group reference and :token_id.
func groupTokensRefAndID(c echo.Context) (string, int64, error) {
	ref, err := groupTokensRef(c)
	if err != nil {
		return "", 0, err
	}
	id, err := pathID(c, "token_id", tokens.ErrTokenNotFound)
	return ref, id, err
}

func (a *API) listGroupDeployTokens(c echo.Context) error {
	ref, err := groupTokensRef(c)
	if err != nil {
		return err
	}
	active, err := activeParam(c)
	if err != nil {
		return err
	}
	return servePage(c, a.ExternalURL, func(p tokens.Page) ([]tokens.DeployToken, int, error) {
		return a.Service.PageGroupDeployTokens(ctx(c), actor(c), ref, active, p)
	}, a.deployToken)
}

func (a *API) getGroupDeployToken(c echo.Context) error {
	ref, id, err := groupTokensRefAndID(c)
	if err != nil {
		return err
	}
	t, err := a.Service.GroupDeployToken(ctx(c), actor(c), ref, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.deployToken(t))
}

func (a *API) createGroupDeployToken(c echo.Context) error {
	ref, err := groupTokensRef(c)
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
	t, secret, err := a.Service.CreateGroupDeployToken(ctx(c), actor(c), ref, in)
	if err != nil {
		return err
	}
	j := a.deployToken(t)
	j.Token = secret.Reveal()
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, j)
}

func (a *API) revokeGroupDeployToken(c echo.Context) error {
	ref, id, err := groupTokensRefAndID(c)
	if err != nil {
		return err
	}
	if err := a.Service.RevokeGroupDeployToken(ctx(c), actor(c), ref, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

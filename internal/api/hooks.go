package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// Webhooks: GitLab's /projects/:id/hooks and /groups/:id/hooks. Only
// deploy token events are sent (resource_deploy_token_events); GitLab's
// other event flags (push_events and the rest) are accepted and answered
// false, since nothing here would send them. The token is never answered.

func (a *API) registerHooks(g *echo.Group, get func(string, echo.HandlerFunc)) {
	for _, owner := range []string{"projects", "groups"} {
		base := "/" + owner + "/:id/hooks"
		get(base, a.listHooks)
		g.POST(base, a.createHook)
		get(base+"/:hook_id", a.getHook)
		g.PUT(base+"/:hook_id", a.updateHook)
		g.DELETE(base+"/:hook_id", a.deleteHook)
	}
}

type hookJSON struct {
	ID                        int64   `json:"id"`
	URL                       string  `json:"url"`
	ProjectID                 *int64  `json:"project_id,omitempty"`
	GroupID                   *int64  `json:"group_id,omitempty"`
	CreatedAt                 *string `json:"created_at"`
	ResourceDeployTokenEvents bool    `json:"resource_deploy_token_events"`
	EnableSSLVerification     bool    `json:"enable_ssl_verification"`
	PushEvents                bool    `json:"push_events"`
	TagPushEvents             bool    `json:"tag_push_events"`
	MergeRequestsEvents       bool    `json:"merge_requests_events"`
	IssuesEvents              bool    `json:"issues_events"`
	NoteEvents                bool    `json:"note_events"`
	JobEvents                 bool    `json:"job_events"`
	PipelineEvents            bool    `json:"pipeline_events"`
	WikiPageEvents            bool    `json:"wiki_page_events"`
	DeploymentEvents          bool    `json:"deployment_events"`
	ReleasesEvents            bool    `json:"releases_events"`
	ResourceAccessTokenEvents bool    `json:"resource_access_token_events"`
	AlertStatus               string  `json:"alert_status"`
}

func hookView(h tokens.Hook) hookJSON {
	j := hookJSON{ID: h.ID, URL: h.URL, CreatedAt: rfc3339(&h.CreatedAt), ResourceDeployTokenEvents: h.DeployTokenEvents,
		EnableSSLVerification: h.EnableSSLVerification, AlertStatus: "executable"}
	if h.GroupID != 0 {
		j.GroupID = &h.GroupID
	} else {
		j.ProjectID = &h.ProjectID
	}
	return j
}

// hookOwner answers the project or group reference of the route.
func hookOwner(c echo.Context) (projectRef, groupRef string, err error) {
	ref, ok := pathParam(c, "id")
	if !ok || ref == "" {
		return "", "", tokens.Invalid("id", "must be an id or a URL-encoded path")
	}
	if strings.HasPrefix(c.Path(), "/api/v4/groups/") {
		return "", ref, nil
	}
	return ref, "", nil
}

func hookOwnerAndID(c echo.Context) (string, string, int64, error) {
	pref, gref, err := hookOwner(c)
	if err != nil {
		return "", "", 0, err
	}
	id, err := pathID(c, "hook_id", tokens.ErrHookNotFound)
	return pref, gref, id, err
}

func hookInput(c echo.Context) (tokens.HookInput, error) {
	p, err := readParams(c)
	if err != nil {
		return tokens.HookInput{}, err
	}
	var in tokens.HookInput
	if p.has("url") {
		v := p.str("url")
		in.URL = &v
	}
	if p.has("token") {
		v := p.str("token")
		in.Token = &v
	}
	if p.has("resource_deploy_token_events") {
		v := p.bool("resource_deploy_token_events")
		in.DeployTokenEvents = &v
	}
	if p.has("enable_ssl_verification") {
		v := p.bool("enable_ssl_verification")
		in.EnableSSLVerification = &v
	}
	return in, p.Err()
}

func (a *API) listHooks(c echo.Context) error {
	pref, gref, err := hookOwner(c)
	if err != nil {
		return err
	}
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	hs, err := a.Service.ListHooks(ctx(c), actor(c), pref, gref)
	if err != nil {
		return err
	}
	return writePage(c, a.ExternalURL, pageOfSlice(hs, page, perPage), len(hs), page, perPage, hookView)
}

func (a *API) getHook(c echo.Context) error {
	pref, gref, id, err := hookOwnerAndID(c)
	if err != nil {
		return err
	}
	h, err := a.Service.GetHook(ctx(c), actor(c), pref, gref, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, hookView(h))
}

func (a *API) createHook(c echo.Context) error {
	pref, gref, err := hookOwner(c)
	if err != nil {
		return err
	}
	in, err := hookInput(c)
	if err != nil {
		return err
	}
	h, err := a.Service.CreateHook(ctx(c), actor(c), pref, gref, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, hookView(h))
}

func (a *API) updateHook(c echo.Context) error {
	pref, gref, id, err := hookOwnerAndID(c)
	if err != nil {
		return err
	}
	in, err := hookInput(c)
	if err != nil {
		return err
	}
	h, err := a.Service.UpdateHook(ctx(c), actor(c), pref, gref, id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, hookView(h))
}

func (a *API) deleteHook(c echo.Context) error {
	pref, gref, id, err := hookOwnerAndID(c)
	if err != nil {
		return err
	}
	if err := a.Service.DeleteHook(ctx(c), actor(c), pref, gref, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

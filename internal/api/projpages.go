package api

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// projectQuery reads GitLab's pagination parameters of GET /projects:
// page and per_page, or pagination=keyset with id_after (ascending) or
// id_before (descending); order_by=id (created_at too for offset pages:
// IDs are given in the order of creation, so both orders are one) and
// sort=asc|desc. Ascending is the default, as this server has always
// answered; GitLab's own default is newest first.
func projectQuery(c echo.Context) (q tokens.ProjectQuery, page, perPage int, err error) {
	page, perPage, err = pageParams(c)
	if err != nil {
		return q, 0, 0, err
	}
	switch c.QueryParam("pagination") {
	case "", "offset":
	case "keyset":
		q.Keyset = true
	default:
		return q, 0, 0, tokens.Invalid("pagination", "does not have a valid value (offset or keyset)")
	}
	switch o := c.QueryParam("order_by"); {
	case o == "" || o == "id":
	case o == "created_at" && !q.Keyset:
	case q.Keyset:
		return q, 0, 0, tokens.Invalid("order_by", "does not have a valid value for keyset pagination (id)")
	default:
		return q, 0, 0, tokens.Invalid("order_by", "does not have a valid value (id or created_at)")
	}
	switch c.QueryParam("sort") {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return q, 0, 0, tokens.Invalid("sort", "does not have a valid value (asc or desc)")
	}
	for _, name := range []string{"id_after", "id_before"} {
		v := c.QueryParam(name)
		if v == "" {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 1 {
			return q, 0, 0, tokens.Invalid(name, "must be a positive integer")
		}
		if !q.Keyset {
			return q, 0, 0, tokens.Invalid(name, "needs pagination=keyset")
		}
		if (name == "id_after") == q.Desc {
			// This server reads one direction at a time from the id
			// index: id_after with ascending ids, id_before with
			// descending ones.
			want := "asc"
			if name == "id_before" {
				want = "desc"
			}
			return q, 0, 0, tokens.Invalid(name, "needs sort=%s", want)
		}
		q.After = id
	}
	q.Offset, q.Limit = (page-1)*perPage, perPage
	return q, page, perPage, nil
}

func (a *API) listProjects(c echo.Context) error {
	q, page, perPage, err := projectQuery(c)
	if err != nil {
		return err
	}
	ps, total, more, err := a.Service.PageVisibleProjects(ctx(c), actor(c), q)
	if err != nil {
		return err
	}
	if !q.Keyset {
		return writePage(c, a.ExternalURL, ps, total, page, perPage, a.projectView(c))
	}
	if more {
		setKeysetNext(c, a, ps[len(ps)-1].ID, q.Desc, perPage)
	}
	return writeItems(c, ps, a.projectView(c))
}

// setKeysetNext sets GitLab's keyset Link header: only rel="next", to the
// same query after the page's last ID (id_after ascending, id_before
// descending), absolute as GitLab's; no totals, which would read every
// record.
func setKeysetNext(c echo.Context, a *API, last int64, desc bool, perPage int) {
	u := *a.ExternalURL
	r := c.Request().URL
	u.Path = strings.TrimSuffix(a.ExternalURL.Path, "/") + r.Path
	u.RawPath = strings.TrimSuffix(a.ExternalURL.EscapedPath(), "/") + r.EscapedPath()
	v := r.Query()
	v.Del("id_after")
	v.Del("id_before")
	if desc {
		v.Set("id_before", strconv.FormatInt(last, 10))
	} else {
		v.Set("id_after", strconv.FormatInt(last, 10))
	}
	v.Set("per_page", strconv.Itoa(perPage))
	u.RawQuery = v.Encode()
	c.Response().Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, u.String()))
}

func (a *API) listDeployTokens(c echo.Context) error {
	ref, err := projectRef(c)
	if err != nil {
		return err
	}
	active, err := activeParam(c)
	if err != nil {
		return err
	}
	return servePage(c, a.ExternalURL, func(p tokens.Page) ([]tokens.DeployToken, int, error) {
		return a.Service.PageDeployTokens(ctx(c), actor(c), ref, active, p)
	}, a.deployToken)
}

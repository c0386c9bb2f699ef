package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/internal/httperr"
	"github.com/deploytokens/deploytokens/tokens"
)

var (
	errNoRoute = httperr.New(http.StatusNotFound, "404 Not Found")
	errMethod  = httperr.New(http.StatusMethodNotAllowed, "405 Method Not Allowed")
)

// WriteError answers an error as GitLab's API does: {"message": ...}
// worded as GitLab words it ("404 Project Not Found", "401 Unauthorized",
// "403 Forbidden - <why>"), a Bearer challenge on 401, no body for HEAD.
// It is the API surface's httperr.WriteFunc.
func WriteError(c echo.Context, _ error, p httperr.Problem) {
	h := c.Response().Header()
	p.SetHeaders(h)
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="`+httperr.Realm+`"`)
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(p.Status)
		return
	}
	c.JSON(p.Status, map[string]string{"message": gitlabMessage(p)})
}

// gitlabMessage words p as GitLab's API does.
func gitlabMessage(p httperr.Problem) string {
	if p.Router {
		return strconv.Itoa(p.Status) + " " + http.StatusText(p.Status)
	}
	if e := p.Domain; e != nil {
		switch e.Kind {
		case tokens.KindNotFound:
			if e.Subject == "" {
				return "404 Not Found"
			}
			return "404 " + e.Subject + " Not Found"
		case tokens.KindUnauthenticated:
			return "401 Unauthorized"
		case tokens.KindForbidden:
			if e.Message == "" {
				return "403 Forbidden"
			}
			return "403 Forbidden - " + e.Message
		case tokens.KindUnavailable:
			if e == tokens.ErrNotReplicated {
				return "503 Service Unavailable: " + e.Message
			}
			return "503 Service Unavailable: the store is unreachable, retry later"
		}
	}
	if p.Status >= 500 {
		return "500 Internal Server Error"
	}
	return p.Message
}

package api

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// lastUseJSON is what a deploy token answers beyond GitLab's fields: its
// last use by either secret (last_used_at, as GitLab names it on other
// tokens, with last_used_ip), when it was last rotated, and while a
// rotation's grace lasts, the previous secret: when it stops working and
// its own last use since the rotation, so an operator sees when it has
// gone quiet.
type lastUseJSON struct {
	LastUsedAt     *string             `json:"last_used_at"`
	LastUsedIP     *string             `json:"last_used_ip"`
	RotatedAt      *string             `json:"rotated_at,omitempty"`
	PreviousSecret *previousSecretJSON `json:"previous_secret,omitempty"`
}

type previousSecretJSON struct {
	ExpiresAt  *string `json:"expires_at"`
	LastUsedAt *string `json:"last_used_at"`
	LastUsedIP *string `json:"last_used_ip"`
}

func deployTokenLastUse(t *tokens.DeployToken, now time.Time) lastUseJSON {
	j := lastUseJSON{LastUsedAt: rfc3339(t.LastUsedAt), LastUsedIP: optional(t.LastUsedIP), RotatedAt: rfc3339(t.RotatedAt)}
	if t.InGrace(now) {
		j.PreviousSecret = &previousSecretJSON{ExpiresAt: rfc3339(t.PrevUntil), LastUsedAt: rfc3339(t.PrevLastUsedAt), LastUsedIP: optional(t.PrevLastUsedIP)}
	}
	return j
}

// optional answers nil for "", so an unknown value is JSON null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// unusedFor wraps a list of deploy tokens: with unused_for (a duration:
// seconds, or with a unit, like 90d or 720h) it answers only the tokens
// unused that long (tokens.UnusedFor), paged as the list is; without it,
// the list as it is. scope answers the project and group references of the
// list ("" for the admin's list of every token).
func (a *API) unusedFor(list echo.HandlerFunc, scope func(c echo.Context) (ref, groupRef string, err error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		v, ok := c.QueryParams()["unused_for"]
		if !ok {
			return list(c)
		}
		if len(v) != 1 {
			return tokens.Invalid("unused_for", "is given more than once")
		}
		d, err := tokens.ParseDuration("unused_for", v[0])
		if err != nil {
			return err
		}
		ref, groupRef, err := scope(c)
		if err != nil {
			return err
		}
		active, err := activeParam(c)
		if err != nil {
			return err
		}
		page, perPage, p, err := pageOf(c)
		if err != nil {
			return err
		}
		ts, err := a.Service.UnusedDeployTokens(ctx(c), actor(c), ref, groupRef, active, d)
		if err != nil {
			return err
		}
		return writePage(c, a.ExternalURL, tokens.PageOf(ts, p), len(ts), page, perPage, a.deployToken)
	}
}

func projectScope(c echo.Context) (string, string, error) {
	ref, err := projectRef(c)
	return ref, "", err
}

func groupScope(c echo.Context) (string, string, error) {
	ref, err := groupTokensRef(c)
	return "", ref, err
}

func allScope(echo.Context) (string, string, error) { return "", "", nil }

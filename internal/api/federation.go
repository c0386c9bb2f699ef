package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/tokens"
)

// Federated identities: trust policies on project and group deploy tokens,
// under /projects/:id/deploy_tokens/:token_id/federated_identities and
// /groups/:id/deploy_tokens/:token_id/federated_identities.

// registerFederation mounts the federated identity routes.
func (a *API) registerFederation(g *echo.Group, get func(string, echo.HandlerFunc)) {
	for _, owner := range []struct {
		prefix string
		group  bool
	}{{"/projects", false}, {"/groups", true}} {
		base := owner.prefix + "/:id/deploy_tokens/:token_id/federated_identities"
		group := owner.group
		get(base, func(c echo.Context) error { return a.listFederatedIdentities(c, group) })
		g.POST(base, func(c echo.Context) error { return a.createFederatedIdentity(c, group) })
		get(base+"/:identity_id", func(c echo.Context) error { return a.getFederatedIdentity(c, group) })
		g.DELETE(base+"/:identity_id", func(c echo.Context) error { return a.deleteFederatedIdentity(c, group) })
	}
}

// FederatedIdentityJSON is a policy as the API answers it.
type FederatedIdentityJSON struct {
	ID        int64             `json:"id"`
	TokenID   int64             `json:"token_id"`
	Issuer    string            `json:"issuer"`
	Audience  string            `json:"audience"`
	Claims    map[string]string `json:"claims"`
	CreatedAt *string           `json:"created_at"`
	CreatorID int64             `json:"creator_id"`
}

func federatedIdentityJSON(f tokens.FederatedIdentity) FederatedIdentityJSON {
	return FederatedIdentityJSON{ID: f.ID, TokenID: f.TokenID, Issuer: f.Issuer, Audience: f.Audience,
		Claims: f.Claims, CreatedAt: rfc3339(&f.CreatedAt), CreatorID: f.CreatorID}
}

// federationRef answers :id (a project's or a group's) and :token_id.
func federationRef(c echo.Context, group bool) (string, int64, error) {
	if group {
		return groupTokensRefAndID(c)
	}
	return projectAndID(c, "token_id", tokens.ErrTokenNotFound)
}

func (a *API) listFederatedIdentities(c echo.Context, group bool) error {
	ref, id, err := federationRef(c, group)
	if err != nil {
		return err
	}
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	fs, err := a.Service.ListFederatedIdentities(ctx(c), actor(c), group, ref, id)
	if err != nil {
		return err
	}
	return writePage(c, a.ExternalURL, pageOfSlice(fs, page, perPage), len(fs), page, perPage, federatedIdentityJSON)
}

func (a *API) getFederatedIdentity(c echo.Context, group bool) error {
	ref, id, err := federationRef(c, group)
	if err != nil {
		return err
	}
	fid, err := pathID(c, "identity_id", tokens.ErrIdentityNotFound)
	if err != nil {
		return err
	}
	f, err := a.Service.FederatedIdentity(ctx(c), actor(c), group, ref, id, fid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, federatedIdentityJSON(f))
}

func (a *API) createFederatedIdentity(c echo.Context, group bool) error {
	ref, id, err := federationRef(c, group)
	if err != nil {
		return err
	}
	p, err := readParams(c)
	if err != nil {
		return err
	}
	in := tokens.FederatedIdentityInput{Issuer: p.str("issuer"), Audience: p.str("audience"), Claims: p.claims("claims")}
	if err := p.Err(); err != nil {
		return err
	}
	f, err := a.Service.CreateFederatedIdentity(ctx(c), actor(c), group, ref, id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, federatedIdentityJSON(f))
}

func (a *API) deleteFederatedIdentity(c echo.Context, group bool) error {
	ref, id, err := federationRef(c, group)
	if err != nil {
		return err
	}
	fid, err := pathID(c, "identity_id", tokens.ErrIdentityNotFound)
	if err != nil {
		return err
	}
	if err := a.Service.DeleteFederatedIdentity(ctx(c), actor(c), group, ref, id, fid); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// claims answers a map field: a JSON object of claim names to values (a
// boolean or number taken as its text, as GitLab's ref_protected is
// "true"), or form fields name[claim]=value as Rails-style clients send.
func (p *params) claims(name string) map[string]string {
	if raw, ok := p.json[name]; ok {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			p.fail(tokens.Invalid(name, "must be an object of claim names to values"))
			return nil
		}
		out := make(map[string]string, len(obj))
		for k, v := range obj {
			var s string
			if err := json.Unmarshal(v, &s); err == nil {
				out[k] = s
				continue
			}
			var n json.Number
			if err := json.Unmarshal(v, &n); err == nil {
				out[k] = n.String()
				continue
			}
			var b bool
			if err := json.Unmarshal(v, &b); err == nil {
				out[k] = strconv.FormatBool(b)
				continue
			}
			p.fail(tokens.Invalid(name+"["+k+"]", "must be a string, number or boolean"))
			return nil
		}
		return out
	}
	var out map[string]string
	for k, vs := range p.form {
		claim, ok := strings.CutPrefix(k, name+"[")
		if !ok {
			continue
		}
		claim, ok = strings.CutSuffix(claim, "]")
		if !ok {
			p.fail(tokens.Invalid(k, "is not a field of the form %s[claim]", name))
			return nil
		}
		if len(vs) > 1 {
			p.fail(tokens.Invalid(k, "is given more than once"))
			return nil
		}
		if out == nil {
			out = map[string]string{}
		}
		out[claim] = vs[0]
	}
	if p.form.Has(name) {
		p.fail(tokens.Invalid(name, "must be given as %s[claim]=value fields or a JSON object", name))
	}
	return out
}

package web

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/deploytokens/deploytokens/tokens"
)

// The Federated identities part of the Deploy tokens section: a list of
// the active tokens' trust policies and a form to add one, for keyless CI
// and clusters. Modest on purpose: one form, one delete button per policy.

// identitiesSuffix is what the create form posts to, below a token owner's
// deploy tokens; a policy's delete posts to
// deploy_tokens/<token id>/federated_identities/<id>/delete.
const identitiesSuffix = tokensSuffix + "/federated_identities"

// identityRoute reads the federation pages of settingsRoute's page; ok
// false when page is none of them.
func identityRoute(r route, page string) (route, bool) {
	if page == identitiesSuffix {
		r.kind = routeCreateIdentity
		return r, true
	}
	rest, found := strings.CutPrefix(page, tokensSuffix+"/")
	if !found {
		return route{}, false
	}
	tokenID, rest, found := strings.Cut(rest, "/federated_identities/")
	if !found {
		return route{}, false
	}
	id, found := strings.CutSuffix(rest, "/delete")
	t, okT := tokens.ParseID(tokenID)
	n, okN := tokens.ParseID(id)
	if !found || !okT || !okN {
		return route{}, false
	}
	r.kind, r.tokenID, r.identityID = routeDeleteIdentity, t, n
	return r, true
}

// identityForm is the create form's input, kept to show it again with its
// errors.
type identityForm struct {
	TokenID  int64
	Issuer   string
	Audience string
	Claims   string
}

type identityRow struct {
	tokens.FederatedIdentity
	TokenName string
	Claims    []string // name = value, sorted
}

// federationData is the section's data: nil when no issuer is allowed.
type federationData struct {
	Issuers    []string
	Identities []identityRow
	Form       identityForm
	Error      string
}

// federation fills the section for the owner's active tokens.
func (h *Handler) federation(ctx context.Context, a *tokens.Actor, o owner, active []tokenRow, form identityForm) (*federationData, error) {
	if len(h.Service.OIDCIssuers) == 0 {
		return nil, nil
	}
	d := &federationData{Issuers: h.Service.OIDCIssuers, Form: form}
	for _, t := range active {
		ids, err := h.Service.ListFederatedIdentities(ctx, a, o.IsGroup(), o.Path, t.ID)
		if err != nil {
			return nil, err
		}
		for _, f := range ids {
			row := identityRow{FederatedIdentity: f, TokenName: t.Name}
			for _, k := range sortedClaims(f.Claims) {
				row.Claims = append(row.Claims, k+" = "+f.Claims[k])
			}
			d.Identities = append(d.Identities, row)
		}
	}
	return d, nil
}

func sortedClaims(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseClaims reads the form's claims: one name=value a line.
func parseClaims(text string) (map[string]string, error) {
	claims := map[string]string{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, tokens.Invalid("claims", "line %d is not name=value", i+1)
		}
		if _, dup := claims[name]; dup {
			return nil, tokens.Invalid("claims", "name %q more than once", name)
		}
		claims[name] = value
	}
	return claims, nil
}

// createIdentity adds a policy to one of the owner's tokens; bad input is
// shown on the page again with the service's message, which names the
// field.
func (h *Handler) createIdentity(rq *request) error {
	ctx := rq.ctx()
	o, err := h.tokenOwner(rq)
	if err != nil {
		return err
	}
	if !rq.session.canWrite() {
		return errReadOnly
	}
	f := rq.c.Request().PostForm
	form := identityForm{Issuer: strings.TrimSpace(f.Get("issuer")), Audience: strings.TrimSpace(f.Get("audience")), Claims: f.Get("claims")}
	id, ok := tokens.ParseID(f.Get("token_id"))
	var t tokens.DeployToken
	if !ok {
		err = tokens.Invalid("token_id", "must name one of the active deploy tokens")
	} else {
		form.TokenID = id
		t, err = h.getToken(ctx, rq.actor(), o, id)
	}
	if err == nil {
		var claims map[string]string
		if claims, err = parseClaims(form.Claims); err == nil {
			_, err = h.Service.CreateFederatedIdentity(ctx, rq.actor(), o.IsGroup(), o.Path, id,
				tokens.FederatedIdentityInput{Issuer: form.Issuer, Audience: form.Audience, Claims: claims})
		}
	}
	if err == nil {
		notice := fmt.Sprintf("Added a federated identity to deploy token %s (%s).", t.Name, t.Username)
		fid, err := h.putFlash(ctx, rq.secret, o.flash(notice, nil))
		if err != nil {
			return err
		}
		return rq.c.Redirect(http.StatusSeeOther, h.flashURL(o, fid))
	}
	if k := tokens.KindOf(err); k != tokens.KindInvalid && k != tokens.KindNotFound {
		return err
	}
	d, derr := h.settingsData(rq, o, tokenForm{})
	if derr != nil {
		return derr
	}
	if d.Federation, derr = h.federation(ctx, rq.actor(), o, d.Active, form); derr != nil {
		return derr
	}
	if d.Federation == nil {
		return err
	}
	d.Federation.Error = "The federated identity was not added: " + err.Error() + "."
	d.Open = true
	h.render(rq, http.StatusUnprocessableEntity, "settings", "Repository settings · "+o.Path, d)
	return nil
}

// deleteIdentity removes a policy of one of the owner's tokens.
func (h *Handler) deleteIdentity(rq *request) error {
	o, t, err := h.ownerToken(rq)
	if err != nil {
		return err
	}
	if !rq.session.canWrite() {
		return errReadOnly
	}
	if err := h.Service.DeleteFederatedIdentity(rq.ctx(), rq.actor(), o.IsGroup(), o.Path, t.ID, rq.route.identityID); err != nil {
		return err
	}
	notice := fmt.Sprintf("Deleted a federated identity of deploy token %s (%s).", t.Name, t.Username)
	id, err := h.putFlash(rq.ctx(), rq.secret, o.flash(notice, nil))
	if err != nil {
		return err
	}
	return rq.c.Redirect(http.StatusSeeOther, h.flashURL(o, id))
}

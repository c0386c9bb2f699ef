package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// lastUsed says when a token was last used, as GitLab's lists do: "Last
// used 3 days ago", or "Never".
func lastUsed(at *time.Time, now time.Time) string {
	if at == nil {
		return "Never"
	}
	d := now.Sub(*at)
	var ago string
	switch {
	case d < time.Minute:
		ago = "just now"
	case d < time.Hour:
		ago = plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		ago = plural(int(d/time.Hour), "hour") + " ago"
	default:
		ago = plural(int(d/(24*time.Hour)), "day") + " ago"
	}
	return "Last used " + ago
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// graceOption is a choice of the rotate form.
type graceOption struct {
	Value, Label string
	Selected     bool
}

type rotateData struct {
	Owner  owner
	Token  tokens.DeployToken
	Graces []graceOption
	Error  string
	// HasPrevious: the token's previous secret still works, and stops
	// at once when it is rotated again.
	HasPrevious bool
	// CI: the token is the CI token, whose jobs get the new secret.
	CI bool
}

// graces are the rotate form's choices, the default (a day) selected;
// those past the server's bound are left out.
func (h *Handler) graces(chosen string) []graceOption {
	if chosen == "" {
		chosen = "24h"
	}
	var out []graceOption
	for _, g := range []struct {
		v, label string
		d        time.Duration
	}{{"0", "No time: stop it now", 0}, {"1h", "1 hour", time.Hour}, {"24h", "1 day", 24 * time.Hour}, {"168h", "7 days", 168 * time.Hour}} {
		if m := h.Service.RotationMaxGrace; m > 0 && g.d > m {
			continue
		}
		out = append(out, graceOption{Value: g.v, Label: g.label, Selected: g.v == chosen})
	}
	return out
}

// rotatePage asks for the grace and a confirmation; a page of its own, as
// revoking's, so rotating needs no JavaScript.
func (h *Handler) rotatePage(rq *request, problem string, status int) error {
	o, t, err := h.ownerToken(rq)
	if err != nil {
		return err
	}
	now := h.Service.Clock()
	if !t.Active(now) {
		return rq.c.Redirect(http.StatusSeeOther, h.settingsURL(o))
	}
	h.render(rq, status, "rotate", "Rotate deploy token "+t.Name,
		rotateData{Owner: o, Token: t, Graces: h.graces(rq.c.Request().PostFormValue("grace")), Error: problem, HasPrevious: t.InGrace(now), CI: t.IsCIToken()})
	return nil
}

// rotateToken rotates and shows the new secret once, on the settings page
// the redirect leads to, as after create.
func (h *Handler) rotateToken(rq *request) error {
	o, t, err := h.ownerToken(rq)
	if err != nil {
		return err
	}
	if !rq.session.canWrite() {
		return errReadOnly
	}
	grace := rq.c.Request().PostForm.Get("grace")
	rotated, secret, err := h.rotateTokenOf(rq.ctx(), rq.actor(), o, t.ID, grace)
	if tokens.KindOf(err) == tokens.KindInvalid {
		return h.rotatePage(rq, err.Error(), http.StatusUnprocessableEntity)
	}
	if err != nil {
		return err
	}
	notice := fmt.Sprintf("Rotated deploy token %s (%s).", rotated.Name, rotated.Username)
	if rotated.PrevUntil != nil {
		notice += " Its previous secret works until " + rotated.PrevUntil.UTC().Format("Jan 2, 2006 15:04 UTC") + "."
	} else {
		notice += " Its previous secret no longer works."
	}
	f := o.flash(notice, &newToken{ID: rotated.ID, Name: rotated.Name, Username: rotated.Username, Secret: secret.Reveal()})
	id, err := h.putFlash(rq.ctx(), rq.secret, f)
	if err != nil {
		// The secret can't be shown: the previous one still works for
		// the grace, and rotating again gives another.
		return err
	}
	return rq.c.Redirect(http.StatusSeeOther, h.flashURL(o, id))
}

func (h *Handler) rotateTokenOf(ctx context.Context, a *tokens.Actor, o owner, id int64, grace string) (tokens.DeployToken, tokens.Secret, error) {
	if o.IsGroup() {
		return h.Service.RotateGroupDeployToken(ctx, a, o.Path, id, grace)
	}
	return h.Service.RotateDeployToken(ctx, a, o.Path, id, grace)
}

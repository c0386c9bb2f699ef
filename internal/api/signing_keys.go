package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deploytokens/deploytokens/jwks"
	"github.com/deploytokens/deploytokens/tokens"
)

// SigningKeys is what the admin API needs of the registry's signing keys
// (a *jwks.Manager).
type SigningKeys interface {
	Keys() []jwks.KeyInfo
	Rotate(ctx context.Context) error
}

// signingKeyJSON is one published key. deploytokens' own: GitLab has no
// such API.
type signingKeyJSON struct {
	KID         string  `json:"kid"`
	Alg         string  `json:"alg"`
	CreatedAt   *string `json:"created_at"`
	ActivateAt  *string `json:"activate_at"`
	RetireAfter *string `json:"retire_after"`
	Active      bool    `json:"active"`
}

func signingKeysJSON(ks []jwks.KeyInfo) []signingKeyJSON {
	at := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		return rfc3339(&t)
	}
	out := make([]signingKeyJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, signingKeyJSON{KID: k.KID, Alg: k.Alg, CreatedAt: at(k.CreatedAt),
			ActivateAt: at(k.ActivateAt), RetireAfter: at(k.RetireAfter), Active: k.Active})
	}
	return out
}

// listSigningKeys answers GET /admin/signing_keys: the keys the registry
// may meet in tokens, oldest first; admins only.
func (a *API) listSigningKeys(c echo.Context) error {
	if !actor(c).User.Admin {
		return tokens.ErrForbidden
	}
	return c.JSON(http.StatusOK, signingKeysJSON(a.SigningKeys.Keys()))
}

// rotateSigningKey answers POST /admin/signing_keys/rotate: what
// `deploytokens keys rotate` does, for a server whose embedded store that
// command can't open while the server runs. Admins only; answers the keys
// after the rotation.
func (a *API) rotateSigningKey(c echo.Context) error {
	if !actor(c).User.Admin {
		return tokens.ErrForbidden
	}
	switch err := a.SigningKeys.Rotate(ctx(c)); {
	case errors.Is(err, jwks.ErrStaticKey), errors.Is(err, jwks.ErrRotationPending), errors.Is(err, jwks.ErrKeySetChanged):
		// The keys' state, not a fault: say why, as keys rotate does.
		return &tokens.Error{Kind: tokens.KindConflict, Message: err.Error()}
	case err != nil:
		return err
	}
	ks := a.SigningKeys.Keys() // oldest first: the new key is the last
	a.Service.RecordSigningKeyRotation(ctx(c), actor(c), ks[len(ks)-1].KID)
	return c.JSON(http.StatusCreated, signingKeysJSON(ks))
}

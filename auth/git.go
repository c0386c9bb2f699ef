package auth

import (
	"errors"
	"net/http"

	"github.com/deploytokens/deploytokens/tokens"
)

// GitAuthorizer decides git fetches and pushes over HTTP.
type GitAuthorizer struct {
	Auth    *Authenticator
	Service *tokens.Service
	// ClientAddr answers the address failures are counted against.
	ClientAddr func(*http.Request) string
}

// Authorize decides whether r may fetch (push false) or push the project at
// path, answering the project's canonical path. Anonymous callers are
// challenged (401) for anything not public, so git sends credentials;
// authenticated callers get 404 for projects they may not see.
func (g *GitAuthorizer) Authorize(r *http.Request, path string, push bool) (string, error) {
	ctx := r.Context()
	p, err := g.Auth.authenticateBasic(ctx, r, g.ClientAddr(r))
	if err != nil {
		return "", err
	}
	proj, err := g.Service.FindProject(ctx, path)
	if err != nil {
		if errors.Is(err, tokens.ErrProjectNotFound) {
			if p.Kind == Anonymous {
				return "", ErrDenied
			}
			return "", ErrNotFoundGit
		}
		return "", storeErr(err)
	}
	switch p.Kind {
	case Anonymous:
		if push || proj.Visibility != tokens.Public {
			return "", ErrDenied
		}
	case DeployTokenKind:
		switch {
		case !p.Reaches(&proj):
			return "", ErrNotFoundGit
		case push:
			return "", ErrUploadDenied
		case !p.Token.HasScope(tokens.ScopeReadRepository):
			return "", ErrNoGitScope
		}
	case UserKind:
		level, err := g.Service.AccessLevel(ctx, p.User, &proj)
		if err != nil {
			return "", storeErr(err)
		}
		if !tokens.CanSee(p.User, &proj, level) {
			return "", ErrNotFoundGit
		}
		if push {
			if level < tokens.Developer || !p.PAT.HasScope(tokens.ScopeWriteRepository, tokens.ScopeAPI) {
				return "", ErrPushDenied
			}
			break
		}
		if !p.PAT.HasScope(tokens.ScopeReadRepository, tokens.ScopeWriteRepository, tokens.ScopeAPI) ||
			(level < tokens.Reporter && proj.Visibility == tokens.Private) {
			return "", ErrNoGitScope
		}
	}
	return proj.PathWithNamespace, nil
}

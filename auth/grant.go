package auth

import (
	"github.com/deploytokens/deploytokens/tokens"
)

// RegistryAllowed reports whether p may use the registry at all: deploy
// tokens need read_registry or write_registry (the CI token has
// read_registry implied), users a PAT with a registry scope or api.
func RegistryAllowed(p *Principal) bool {
	switch p.Kind {
	case DeployTokenKind:
		return p.Token.IsCIToken() || p.Token.HasScope(tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry)
	case UserKind:
		return p.PAT.HasScope(tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry, tokens.ScopeAPI)
	}
	return true
}

// GrantRepository answers the subset of requested actions p may do on a
// repository of proj (nil when no project owns the name). level is p's
// access level in proj (Owner for admins).
func GrantRepository(p *Principal, proj *tokens.Project, level tokens.AccessLevel, requested []string) []string {
	if proj == nil || !RegistryAllowed(p) {
		return nil
	}
	var pull, push, del bool
	switch p.Kind {
	case Anonymous:
		pull = proj.Visibility == tokens.Public
	case DeployTokenKind:
		if !p.Reaches(proj) {
			// What anyone may: docker sends the credentials it logged in
			// with for every pull, public base images of others included.
			pull = proj.Visibility == tokens.Public
			break
		}
		write := p.Token.HasScope(tokens.ScopeWriteRegistry)
		pull = write || p.Token.HasScope(tokens.ScopeReadRegistry) || p.Token.IsCIToken()
		push = write
	case UserKind:
		readScope := p.PAT.HasScope(tokens.ScopeAPI, tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry)
		writeScope := p.PAT.HasScope(tokens.ScopeAPI, tokens.ScopeWriteRegistry)
		visible := level >= tokens.Reporter || proj.Visibility != tokens.Private
		pull = readScope && visible
		push = writeScope && level >= tokens.Developer
		del = writeScope && level >= tokens.Maintainer
	}
	var out []string
	for _, a := range requested {
		switch {
		case a == ActionPull && pull,
			a == ActionPush && push,
			(a == ActionDelete || a == ActionAll) && del:
			out = append(out, a)
		}
	}
	return out
}

// GrantRegistry answers what p may do on the registry itself
// (registry:catalog:*): admins only.
func GrantRegistry(p *Principal, requested []string) []string {
	if p.Kind != UserKind || !p.User.Admin || !p.PAT.HasScope(tokens.ScopeAPI, tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry) {
		return nil
	}
	return requested
}

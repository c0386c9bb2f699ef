package auth

import (
	"context"
	"strconv"
	"strings"

	"github.com/deploytokens/deploytokens/tokens"
)

// Default caps on the distinct repositories one token request may name.
// A pull names one, a cross-repository blob mount two, a multi-stage build
// a few; a request naming more is not a client's ordinary work. Callers
// without credentials get a lower cap: each name costs lookups whoever
// asks, and they have nothing to lose.
const (
	DefaultMaxRepositories          = 16
	DefaultMaxAnonymousRepositories = 4
)

// repositoryCap answers the cap that applies to p.
func (s *TokenService) repositoryCap(p *Principal) (limit int, who string) {
	if p.Kind == Anonymous {
		if s.MaxAnonymousRepositories > 0 {
			return s.MaxAnonymousRepositories, "without credentials"
		}
		return DefaultMaxAnonymousRepositories, "without credentials"
	}
	if s.MaxRepositories > 0 {
		return s.MaxRepositories, "with credentials"
	}
	return DefaultMaxRepositories, "with credentials"
}

// checkBudget refuses a request naming more distinct repositories than
// p's cap, before any of them is looked up. ParseScopes has merged the
// scopes of one repository, so each repository scope is a distinct name.
func (s *TokenService) checkBudget(p *Principal, scopes []Scope) error {
	n := 0
	for _, sc := range scopes {
		if sc.Type == "repository" {
			n++
		}
	}
	limit, who := s.repositoryCap(p)
	if n <= limit {
		return nil
	}
	return invalid("the request names " + strconv.Itoa(n) + " repositories; a token request " + who +
		" may name at most " + strconv.Itoa(limit))
}

// owners answers the project owning each repository scope's name (nil
// for none), looking every candidate path up in one store step
// (ProjectsByPaths), so that a request costs the same round trips
// whatever number of scopes it names.
func (s *TokenService) owners(ctx context.Context, p *Principal, scopes []Scope) (map[string]*tokens.Project, error) {
	plans := make(map[string]ownerPlan, len(scopes))
	var paths []string
	for _, sc := range scopes {
		if sc.Type != "repository" {
			continue
		}
		plan := planOwner(p, sc.Name)
		plans[sc.Name] = plan
		paths = append(paths, plan.candidates...)
	}
	found := map[string]tokens.Project{}
	if len(paths) > 0 {
		var err error
		if found, err = s.Service.Store.ProjectsByPaths(ctx, paths); err != nil {
			return nil, err
		}
	}
	out := make(map[string]*tokens.Project, len(plans))
	for name, plan := range plans {
		out[name] = plan.resolve(found)
	}
	return out, nil
}

// ownerPlan is how one image name's project is found: the first of
// candidates (longest first) that is a project's path, else fallback.
type ownerPlan struct {
	candidates []string
	fallback   *tokens.Project
}

func (o ownerPlan) resolve(found map[string]tokens.Project) *tokens.Project {
	for _, c := range o.candidates {
		if proj, ok := found[c]; ok {
			return &proj
		}
	}
	return o.fallback
}

// maxExtraSegments is how far below a project an image may live
// (group/project/a/b), as GitLab allows.
const maxExtraSegments = 2

// planOwner plans the lookup of the project owning an image name: the
// longest whole-segment prefix of the name that is a project. A deploy
// token's own project needs no lookup when the name is exactly its path;
// a group token's projects are looked up as anyone's.
func planOwner(p *Principal, name string) ownerPlan {
	segs := strings.Split(name, "/")
	shortest := max(2, len(segs)-maxExtraSegments)
	var fallback *tokens.Project
	if p.Kind == DeployTokenKind && p.Token.GroupID == 0 {
		own := p.Project.PathWithNamespace
		if strings.EqualFold(name, own) {
			return ownerPlan{fallback: p.Project}
		}
		if n := strings.Count(own, "/") + 1; len(segs) > n && strings.EqualFold(strings.Join(segs[:n], "/"), own) {
			// Only a longer project could own it instead.
			shortest = max(shortest, n+1)
			if len(segs)-n <= maxExtraSegments {
				fallback = p.Project
			}
		}
	}
	plan := ownerPlan{fallback: fallback}
	for k := len(segs); k >= shortest; k-- {
		path := strings.Join(segs[:k], "/")
		// What FindProject would refuse unread can't be a project's.
		if tokens.ValidateProjectPath("id", path) == nil {
			plan.candidates = append(plan.candidates, path)
		}
	}
	return plan
}

package auth

import (
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// Actions a registry scope can ask for.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionAll    = "*"
)

// maxScopeLen bounds one scope; longer ones are dropped unread.
const maxScopeLen = 1024

// maxScopes bounds how many scopes one token request may ask for.
const maxScopes = 64

// Scope is one parsed registry scope, type[(class)]:name:actions.
type Scope struct {
	Type    string   `json:"type"`
	Class   string   `json:"-"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// ParseScopes parses the scope values of a token request: each value may
// hold several scopes separated by spaces. Malformed scopes are dropped, as
// the token spec asks, so the others are still answered. Scopes for the
// same resource are merged.
func ParseScopes(values []string) []Scope {
	var out []Scope
	for _, v := range values {
		for _, s := range strings.Fields(v) {
			if len(out) >= maxScopes {
				return out
			}
			sc, ok := ParseScope(s)
			if !ok {
				continue
			}
			if i := slices.IndexFunc(out, func(o Scope) bool { return o.Type == sc.Type && o.Name == sc.Name }); i >= 0 {
				for _, a := range sc.Actions {
					if !slices.Contains(out[i].Actions, a) {
						out[i].Actions = append(out[i].Actions, a)
					}
				}
				continue
			}
			out = append(out, sc)
		}
	}
	return out
}

// ParseScope parses one scope. The type ends at the first colon and the
// actions start after the last, since a name may hold host:port/. Names of
// repositories must be valid reference names as they are: nothing is
// normalized (no library/ prefix, no docker.io).
func ParseScope(s string) (Scope, bool) {
	if len(s) > maxScopeLen {
		return Scope{}, false
	}
	first, last := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if first <= 0 || last == first {
		return Scope{}, false
	}
	sc := Scope{Type: s[:first], Name: s[first+1 : last]}
	if open := strings.IndexByte(sc.Type, '('); open >= 0 {
		if !strings.HasSuffix(sc.Type, ")") || open == 0 {
			return Scope{}, false
		}
		sc.Type, sc.Class = sc.Type[:open], sc.Type[open+1:len(sc.Type)-1]
		if !isLowerAlnum(sc.Class) {
			return Scope{}, false
		}
	}
	if !isLowerAlnum(sc.Type) || sc.Name == "" {
		return Scope{}, false
	}
	switch sc.Type {
	case "repository":
		if !validName(sc.Name) {
			return Scope{}, false
		}
	case "registry":
		if sc.Name != "catalog" {
			return Scope{}, false
		}
	default:
		return Scope{}, false
	}
	for a := range strings.SplitSeq(s[last+1:], ",") {
		switch a {
		case ActionPull, ActionPush, ActionDelete, ActionAll:
			if !slices.Contains(sc.Actions, a) {
				sc.Actions = append(sc.Actions, a)
			}
		}
	}
	if len(sc.Actions) == 0 {
		return Scope{}, false
	}
	return sc, true
}

// validName accepts a repository name that matches the reference grammar
// exactly as written (lowercase, no empty component, no "..", at most 255
// characters) and carries no tag or digest.
func validName(name string) bool {
	// reference.Parse reads the first of several components as a domain,
	// where it allows uppercase and counts no length: check the whole name.
	if len(name) > reference.RepositoryNameTotalLengthMax || strings.ToLower(name) != name {
		return false
	}
	ref, err := reference.Parse(name)
	if err != nil {
		return false
	}
	named, ok := ref.(reference.Named)
	if !ok || named.Name() != name {
		return false
	}
	_, tagged := ref.(reference.Tagged)
	_, digested := ref.(reference.Digested)
	return !tagged && !digested
}

func isLowerAlnum(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

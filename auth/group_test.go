package auth

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// groupTokenEnv is a bolt store with a group corp (subgroups a and b),
// projects in and beside it, and deploy tokens of corp.
type groupTokenEnv struct {
	authn  *Authenticator
	svc    *tokens.Service
	corp   tokens.Group
	tokens map[string]struct{ user, secret string }
}

func newGroupTokenEnv(t *testing.T) *groupTokenEnv {
	t.Helper()
	ctx := t.Context()
	s := openKV(t)
	keys, err := tokens.NewKeys([]byte(strings.Repeat("group token test secret ", 2)))
	if err != nil {
		t.Fatal(err)
	}
	env := &groupTokenEnv{
		authn:  &Authenticator{Store: s, Keys: keys, Limiter: &Limiter{KV: s, Max: 100, Window: time.Minute, Ban: time.Minute}},
		svc:    &tokens.Service{Store: s, Keys: keys},
		tokens: map[string]struct{ user, secret string }{},
	}
	u := tokens.User{Username: "alice"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	owner := tokens.GroupMember{UserID: u.ID, AccessLevel: tokens.Owner}
	groups := map[string]*tokens.Group{}
	for _, path := range []string{"corp", "corp/a", "corp/b", "corp2", "other"} {
		g := tokens.Group{Name: path, FullPath: path, Path: path[strings.LastIndex(path, "/")+1:], Visibility: tokens.Private}
		if parent, _, ok := strings.Cut(path, "/"); ok {
			g.ParentID = groups[parent].ID
		}
		if err := s.CreateGroup(ctx, &g, owner); err != nil {
			t.Fatalf("CreateGroup %s: %v", path, err)
		}
		groups[path] = &g
	}
	env.corp = *groups["corp"]
	for _, p := range []struct {
		path, ns string
		vis      tokens.Visibility
	}{
		{"corp/a/app", "corp/a", tokens.Private},
		{"corp/b/lib", "corp/b", tokens.Private},
		{"corp2/x", "corp2", tokens.Private},
		{"other/x", "other", tokens.Private},
		{"other/pub", "other", tokens.Public},
		// Under corp's path, but no group holds it: stored before groups
		// (the store takes it), so no group token reaches it.
		{"corp/a/stray", "", tokens.Private},
	} {
		proj := tokens.Project{Path: p.path[strings.LastIndex(p.path, "/")+1:], PathWithNamespace: p.path, Visibility: p.vis}
		if p.ns != "" {
			proj.NamespaceID = groups[p.ns].ID
		}
		if err := s.CreateProject(ctx, &proj, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
			t.Fatalf("CreateProject %s: %v", p.path, err)
		}
	}
	for name, scopes := range map[string][]string{
		"read":  {tokens.ScopeReadRegistry, tokens.ScopeReadRepository},
		"write": {tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry},
	} {
		secret, err := tokens.Generate(tokens.DeployTokenSecret)
		if err != nil {
			t.Fatal(err)
		}
		d := tokens.DeployToken{GroupID: env.corp.ID, Name: name, Scopes: scopes, Digest: keys.Digest(secret.Reveal())}
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
		env.tokens[name] = struct{ user, secret string }{d.Username, secret.Reveal()}
	}
	return env
}

// TestGroupTokenPrincipal: both ways of checking a deploy token (the
// Check path, and the hot path that reads the ban with it) answer a group
// token with its group.
func TestGroupTokenPrincipal(t *testing.T) {
	env := newGroupTokenEnv(t)
	read := env.tokens["read"]
	tests := []struct {
		name  string
		check func() (Principal, error)
	}{
		{"Check", func() (Principal, error) { return env.authn.Check(t.Context(), read.user, read.secret) }},
		{"checkFrom", func() (Principal, error) {
			return env.authn.checkFrom(t.Context(), "192.0.2.1", read.user, read.secret)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.check()
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != DeployTokenKind || p.Group == nil || p.Group.FullPath != "corp" || p.Project.ID != 0 {
				t.Fatalf("principal %+v, group %+v", p, p.Group)
			}
		})
	}
}

// TestGroupTokenRegistry: a group token pulls (and with write_registry
// pushes) every project in its subtree, images below a project included,
// pulls public projects anywhere, and nothing else: corp2 is beside corp.
func TestGroupTokenRegistry(t *testing.T) {
	env := newGroupTokenEnv(t)
	ts := &TokenService{Auth: env.authn, Service: env.svc}
	pull, pullPush := []string{ActionPull}, []string{ActionPull, ActionPush}
	tests := []struct {
		name, token, repo string
		want              []string
	}{
		{"read: project in a subgroup", "read", "corp/a/app", pull},
		{"read: image below a project", "read", "corp/a/app/sub", pull},
		{"read: another subgroup", "read", "corp/b/lib", pull},
		{"write: project in a subgroup", "write", "corp/a/app", pullPush},
		{"write: image below a project", "write", "corp/b/lib/cache", pullPush},
		{"read: outside the group", "read", "other/x", nil},
		{"write: a group beside with a longer name", "write", "corp2/x", nil},
		{"write: public project outside", "write", "other/pub", pull},
		{"write: no project there", "write", "corp/a/nothing", nil},
		{"write: the group itself", "write", "corp", nil},
		{"write: a project under the path no group holds", "write", "corp/a/stray", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := env.tokens[tt.token]
			p, err := env.authn.Check(t.Context(), tok.user, tok.secret)
			if err != nil {
				t.Fatal(err)
			}
			access, err := ts.grant(t.Context(), &p, []Scope{{Type: "repository", Name: tt.repo, Actions: []string{ActionPull, ActionPush, ActionDelete}}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if len(access) == 1 {
				got = access[0].Actions
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("granted %q on %s, want %q", got, tt.repo, tt.want)
			}
		})
	}
}

// TestGroupTokenGit: a group token with read_repository clones every
// project in its subtree, never pushes, and finds nothing outside it.
func TestGroupTokenGit(t *testing.T) {
	env := newGroupTokenEnv(t)
	g := &GitAuthorizer{Auth: env.authn, Service: env.svc, ClientAddr: func(*http.Request) string { return "192.0.2.1" }}
	tests := []struct {
		name, token, path string
		push              bool
		want              error
	}{
		{"clone in a subgroup", "read", "corp/a/app", false, nil},
		{"clone in another subgroup", "read", "corp/b/lib", false, nil},
		{"push", "read", "corp/a/app", true, ErrUploadDenied},
		{"clone without read_repository", "write", "corp/a/app", false, ErrNoGitScope},
		{"clone beside", "read", "corp2/x", false, ErrNotFoundGit},
		{"clone outside", "read", "other/x", false, ErrNotFoundGit},
		{"clone a project under the path no group holds", "read", "corp/a/stray", false, ErrNotFoundGit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := env.tokens[tt.token]
			r := basicRequest(t, basic(tok.user+":"+tok.secret))
			got, err := g.Authorize(r, tt.path, tt.push)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Authorize = %q, %v; want %v", got, err, tt.want)
			}
			if err == nil && got != tt.path {
				t.Errorf("Authorize answered %q, want %q", got, tt.path)
			}
		})
	}
}

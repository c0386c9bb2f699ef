package auth

import (
	"slices"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

func deployPrincipal(proj *tokens.Project, name string, scopes ...string) *Principal {
	return &Principal{
		Kind:    DeployTokenKind,
		Token:   &tokens.DeployToken{ID: 7, ProjectID: proj.ID, Name: name, Username: "gitlab+deploy-token-7", Scopes: scopes},
		Project: proj,
	}
}

func userPrincipal(admin bool, scopes ...string) *Principal {
	return &Principal{
		Kind: UserKind,
		User: &tokens.User{ID: 3, Username: "alice", Admin: admin},
		PAT:  &tokens.PersonalAccessToken{ID: 5, UserID: 3, Scopes: scopes},
	}
}

func TestGrantRepository(t *testing.T) {
	var (
		private  = &tokens.Project{ID: 1, PathWithNamespace: "g/private", Visibility: tokens.Private}
		internal = &tokens.Project{ID: 2, PathWithNamespace: "g/internal", Visibility: tokens.Internal}
		public   = &tokens.Project{ID: 3, PathWithNamespace: "g/public", Visibility: tokens.Public}
		other    = &tokens.Project{ID: 4, PathWithNamespace: "h/other", Visibility: tokens.Public}
		all      = []string{ActionPull, ActionPush, ActionDelete, ActionAll}
		pull     = []string{ActionPull}
		pullPush = []string{ActionPull, ActionPush}
		anon     = &Principal{Kind: Anonymous}
	)
	tests := []struct {
		name      string
		p         *Principal
		proj      *tokens.Project
		level     tokens.AccessLevel
		requested []string
		allowed   bool // RegistryAllowed
		want      []string
	}{
		{name: "deploy token read_registry own project", p: deployPrincipal(private, "ci", tokens.ScopeReadRegistry), proj: private, requested: all, allowed: true, want: pull},
		{name: "deploy token read_registry and read_repository own project", p: deployPrincipal(private, "ci", tokens.ScopeReadRepository, tokens.ScopeReadRegistry), proj: private, requested: all, allowed: true, want: pull},
		{name: "CI token with only read_repository reads", p: deployPrincipal(private, tokens.CITokenName, tokens.ScopeReadRepository), proj: private, requested: all, allowed: true, want: pull},
		{name: "CI token with no scopes reads", p: deployPrincipal(private, tokens.CITokenName), proj: private, requested: all, allowed: true, want: pull},
		{name: "CI token with write_registry pushes", p: deployPrincipal(private, tokens.CITokenName, tokens.ScopeWriteRegistry), proj: private, requested: all, allowed: true, want: pullPush},
		{name: "deploy token write_registry own project", p: deployPrincipal(private, "push", tokens.ScopeWriteRegistry), proj: private, requested: all, allowed: true, want: pullPush},
		{name: "deploy token read and write_registry own project", p: deployPrincipal(private, "push", tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry), proj: private, requested: all, allowed: true, want: pullPush},
		{name: "deploy token write_registry asks only delete", p: deployPrincipal(private, "push", tokens.ScopeWriteRegistry), proj: private, requested: []string{ActionDelete, ActionAll}, allowed: true, want: nil},
		{name: "deploy token only read_repository", p: deployPrincipal(private, "git", tokens.ScopeReadRepository), proj: private, requested: all, allowed: false, want: nil},
		{name: "deploy token no scopes", p: deployPrincipal(public, "none"), proj: public, requested: all, allowed: false, want: nil},
		{name: "deploy token on another private project", p: deployPrincipal(internal, "push", tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry), proj: private, requested: all, allowed: true, want: nil},
		// Another public project: what anonymous gets, pull, never more.
		{name: "deploy token on another public project", p: deployPrincipal(private, "push", tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry), proj: other, requested: all, allowed: true, want: pull},
		{name: "deploy token on another internal project", p: deployPrincipal(private, "push", tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry), proj: internal, requested: all, allowed: true, want: nil},
		{name: "CI token on another public project", p: deployPrincipal(private, tokens.CITokenName), proj: public, requested: all, allowed: true, want: pull},
		{name: "read_repository token on another public project", p: deployPrincipal(private, "git", tokens.ScopeReadRepository), proj: public, requested: all, allowed: false, want: nil},

		{name: "guest of private project", p: userPrincipal(false, tokens.ScopeAPI), proj: private, level: tokens.Guest, requested: all, allowed: true, want: nil},
		{name: "reporter of private project", p: userPrincipal(false, tokens.ScopeAPI), proj: private, level: tokens.Reporter, requested: all, allowed: true, want: pull},
		{name: "developer of private project", p: userPrincipal(false, tokens.ScopeAPI), proj: private, level: tokens.Developer, requested: all, allowed: true, want: pullPush},
		{name: "maintainer of private project", p: userPrincipal(false, tokens.ScopeAPI), proj: private, level: tokens.Maintainer, requested: all, allowed: true, want: all},
		{name: "owner of private project", p: userPrincipal(false, tokens.ScopeAPI), proj: private, level: tokens.Owner, requested: all, allowed: true, want: all},
		{name: "maintainer asks push and pull only", p: userPrincipal(false, tokens.ScopeAPI), proj: private, level: tokens.Maintainer, requested: []string{ActionPush, ActionPull}, allowed: true, want: []string{ActionPush, ActionPull}},
		{name: "maintainer asks star only", p: userPrincipal(false, tokens.ScopeAPI), proj: private, level: tokens.Maintainer, requested: []string{ActionAll}, allowed: true, want: []string{ActionAll}},
		{name: "maintainer asks nothing", p: userPrincipal(false, tokens.ScopeAPI), proj: private, level: tokens.Maintainer, requested: nil, allowed: true, want: nil},
		{name: "maintainer PAT read_registry only", p: userPrincipal(false, tokens.ScopeReadRegistry), proj: private, level: tokens.Maintainer, requested: all, allowed: true, want: pull},
		{name: "developer PAT read_registry only", p: userPrincipal(false, tokens.ScopeReadRegistry, tokens.ScopeReadRepository), proj: private, level: tokens.Developer, requested: all, allowed: true, want: pull},
		{name: "maintainer PAT read_repository only", p: userPrincipal(false, tokens.ScopeReadRepository), proj: private, level: tokens.Maintainer, requested: all, allowed: false, want: nil},
		{name: "maintainer PAT read_api only", p: userPrincipal(false, tokens.ScopeReadAPI, tokens.ScopeWriteRepository), proj: public, level: tokens.Maintainer, requested: all, allowed: false, want: nil},

		{name: "anonymous public project", p: anon, proj: public, requested: all, allowed: true, want: pull},
		{name: "anonymous internal project", p: anon, proj: internal, requested: all, allowed: true, want: nil},
		{name: "anonymous private project", p: anon, proj: private, requested: all, allowed: true, want: nil},

		{name: "non-member public project", p: userPrincipal(false, tokens.ScopeAPI), proj: public, requested: all, allowed: true, want: pull},
		{name: "non-member internal project", p: userPrincipal(false, tokens.ScopeAPI), proj: internal, requested: all, allowed: true, want: pull},
		{name: "non-member private project", p: userPrincipal(false, tokens.ScopeAPI), proj: private, requested: all, allowed: true, want: nil},
		{name: "guest internal project", p: userPrincipal(false, tokens.ScopeAPI), proj: internal, level: tokens.Guest, requested: all, allowed: true, want: pull},
		{name: "non-member PAT read_registry internal project", p: userPrincipal(false, tokens.ScopeReadRegistry), proj: internal, requested: all, allowed: true, want: pull},

		{name: "admin private project", p: userPrincipal(true, tokens.ScopeAPI), proj: private, level: tokens.Owner, requested: all, allowed: true, want: all},
		{name: "admin PAT read_registry only", p: userPrincipal(true, tokens.ScopeReadRegistry), proj: private, level: tokens.Owner, requested: all, allowed: true, want: pull},
		{name: "admin PAT read_repository only", p: userPrincipal(true, tokens.ScopeReadRepository), proj: private, level: tokens.Owner, requested: all, allowed: false, want: nil},

		{name: "nil project anonymous", p: anon, proj: nil, requested: all, allowed: true, want: nil},
		{name: "nil project deploy token", p: deployPrincipal(private, "push", tokens.ScopeWriteRegistry), proj: nil, requested: all, allowed: true, want: nil},
		{name: "nil project admin", p: userPrincipal(true, tokens.ScopeAPI), proj: nil, level: tokens.Owner, requested: all, allowed: true, want: nil},
		{name: "nil project user", p: userPrincipal(false, tokens.ScopeAPI), proj: nil, requested: all, allowed: true, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RegistryAllowed(tt.p); got != tt.allowed {
				t.Errorf("RegistryAllowed = %v, want %v", got, tt.allowed)
			}
			requested := slices.Clone(tt.requested)
			got := GrantRepository(tt.p, tt.proj, tt.level, requested)
			if !slices.Equal(got, tt.want) {
				t.Errorf("GrantRepository(%q) = %q, want %q", tt.requested, got, tt.want)
			}
			if !slices.Equal(requested, tt.requested) {
				t.Errorf("GrantRepository changed the requested actions to %q", requested)
			}
		})
	}
}

func TestGrantRegistry(t *testing.T) {
	project := &tokens.Project{ID: 1, PathWithNamespace: "g/p", Visibility: tokens.Public}
	star := []string{ActionAll}
	tests := []struct {
		name string
		p    *Principal
		want []string
	}{
		{name: "admin PAT api", p: userPrincipal(true, tokens.ScopeAPI), want: star},
		{name: "admin PAT read_registry", p: userPrincipal(true, tokens.ScopeReadRegistry), want: star},
		{name: "admin PAT write_registry", p: userPrincipal(true, tokens.ScopeWriteRegistry), want: star},
		{name: "admin PAT read_repository only", p: userPrincipal(true, tokens.ScopeReadRepository), want: nil},
		{name: "admin PAT read_api only", p: userPrincipal(true, tokens.ScopeReadAPI), want: nil},
		{name: "user PAT api", p: userPrincipal(false, tokens.ScopeAPI), want: nil},
		{name: "deploy token write_registry", p: deployPrincipal(project, "push", tokens.ScopeReadRegistry, tokens.ScopeWriteRegistry), want: nil},
		{name: "CI token", p: deployPrincipal(project, tokens.CITokenName), want: nil},
		{name: "anonymous", p: &Principal{Kind: Anonymous}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, ok := ParseScope("registry:catalog:*")
			if !ok {
				t.Fatal("registry:catalog:* did not parse")
			}
			if got := GrantRegistry(tt.p, sc.Actions); !slices.Equal(got, tt.want) {
				t.Errorf("GrantRegistry(%q) = %q, want %q", sc.Actions, got, tt.want)
			}
		})
	}
}

package tokens_test

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// groupWorld is a store with groups corp, corp/team and other, a project
// corp/team/app, and users with their levels in them.
type groupWorld struct {
	svc               *tokens.Service
	s                 *boltstore.Store
	corp, team, other tokens.Group
	app               tokens.Project
	actors            map[string]*tokens.Actor
	now               time.Time
}

func newGroupWorld(t *testing.T) *groupWorld {
	t.Helper()
	ctx := t.Context()
	s, keys := openStore(t)
	w := &groupWorld{s: s, actors: map[string]*tokens.Actor{}, now: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
	w.svc = &tokens.Service{Store: s, Keys: keys, Now: func() time.Time { return w.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, name := range []string{"owner", "maint", "dev", "sub", "outsider", "root"} {
		u := tokens.User{Username: name, Name: name, Admin: name == "root", CreatedAt: w.now}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		w.actors[name] = &tokens.Actor{User: u, Scopes: []string{tokens.ScopeAPI}}
	}
	group := func(path string, parent int64) tokens.Group {
		g := tokens.Group{Name: path, Path: lastSegment(path), FullPath: path, ParentID: parent, Visibility: tokens.Private, CreatedAt: w.now}
		if err := s.CreateGroup(ctx, &g, tokens.GroupMember{UserID: w.actors["owner"].User.ID, AccessLevel: tokens.Owner, CreatedAt: w.now}); err != nil {
			t.Fatalf("CreateGroup %s: %v", path, err)
		}
		return g
	}
	w.corp = group("corp", 0)
	w.team = group("corp/team", w.corp.ID)
	w.other = group("other", 0)
	w.app = tokens.Project{Path: "app", PathWithNamespace: "corp/team/app", Visibility: tokens.Private, NamespaceID: w.team.ID, CreatedAt: w.now}
	if err := s.CreateProject(ctx, &w.app, tokens.Member{UserID: w.actors["owner"].User.ID, AccessLevel: tokens.Owner, CreatedAt: w.now}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		g     tokens.Group
		user  string
		level tokens.AccessLevel
	}{
		{w.corp, "maint", tokens.Maintainer},
		{w.corp, "dev", tokens.Developer},
		{w.team, "sub", tokens.Maintainer},
	} {
		if err := s.PutGroupMember(ctx, tokens.GroupMember{GroupID: m.g.ID, UserID: w.actors[m.user].User.ID, AccessLevel: m.level, CreatedAt: w.now}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// TestGroupDeployTokenRights: group maintainers and owners, by their
// effective level (inherited included), and admins manage a group's
// tokens; a developer is refused, an outsider does not see the group.
func TestGroupDeployTokenRights(t *testing.T) {
	w := newGroupWorld(t)
	ctx := t.Context()
	in := tokens.CreateDeployTokenInput{Name: "puller", Scopes: []string{tokens.ScopeReadRegistry}}
	tests := []struct {
		name  string
		actor string
		group string
		want  error
	}{
		{"owner", "owner", "corp", nil},
		{"maintainer", "maint", "corp", nil},
		{"inherited maintainer", "maint", "corp/team", nil},
		{"maintainer of a subgroup only", "sub", "corp", tokens.ErrGroupNotFound},
		{"maintainer of the subgroup", "sub", "corp/team", nil},
		{"developer", "dev", "corp", tokens.ErrForbidden},
		{"outsider", "outsider", "corp", tokens.ErrGroupNotFound},
		{"admin", "root", "other", nil},
		{"by id", "owner", "1", nil},
		{"unknown group", "root", "nope", tokens.ErrGroupNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := w.actors[tt.actor]
			created, secret, err := w.svc.CreateGroupDeployToken(ctx, a, tt.group, in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CreateGroupDeployToken = %v, want %v", err, tt.want)
			}
			_, lerr := w.svc.ListGroupDeployTokens(ctx, a, tt.group, false)
			if !errors.Is(lerr, tt.want) {
				t.Errorf("ListGroupDeployTokens = %v, want %v", lerr, tt.want)
			}
			if err != nil {
				return
			}
			if !strings.HasPrefix(secret.Reveal(), string(tokens.DeployTokenSecret)) || created.GroupID == 0 || created.ProjectID != 0 {
				t.Fatalf("created %+v with secret prefix %q", created, secret.Reveal()[:5])
			}
			if created.Username != tokens.DefaultDeployTokenUsername(created.ID) {
				t.Errorf("username %q, want the default", created.Username)
			}
			got, err := w.svc.GroupDeployToken(ctx, a, tt.group, created.ID)
			if err != nil || got.ID != created.ID {
				t.Fatalf("GroupDeployToken = %+v, %v", got, err)
			}
			if err := w.svc.RevokeGroupDeployToken(ctx, a, tt.group, created.ID); err != nil {
				t.Fatalf("RevokeGroupDeployToken: %v", err)
			}
			if err := w.svc.RevokeGroupDeployToken(ctx, a, tt.group, created.ID); err != nil {
				t.Fatalf("RevokeGroupDeployToken again: %v", err)
			}
			active, err := w.svc.ListGroupDeployTokens(ctx, a, tt.group, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range active {
				if x.ID == created.ID {
					t.Errorf("revoked token %d listed as active", x.ID)
				}
			}
		})
	}
}

// TestGroupDeployTokenValidation: the project tokens' rules, through the
// same code; bad input names the field and stores nothing.
func TestGroupDeployTokenValidation(t *testing.T) {
	w := newGroupWorld(t)
	ctx := t.Context()
	owner := w.actors["owner"]
	tests := []struct {
		name  string
		in    tokens.CreateDeployTokenInput
		field string
	}{
		{"no name", tokens.CreateDeployTokenInput{Scopes: []string{tokens.ScopeReadRegistry}}, "name"},
		{"no scopes", tokens.CreateDeployTokenInput{Name: "x"}, "scopes"},
		{"a PAT scope", tokens.CreateDeployTokenInput{Name: "x", Scopes: []string{tokens.ScopeAPI}}, "scopes"},
		{"expiry past", tokens.CreateDeployTokenInput{Name: "x", Scopes: []string{tokens.ScopeReadRegistry}, ExpiresAt: "2020-01-01"}, "expires_at"},
		{"bad username", tokens.CreateDeployTokenInput{Name: "x", Username: "a b", Scopes: []string{tokens.ScopeReadRegistry}}, "username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := w.svc.CreateGroupDeployToken(ctx, owner, "corp", tt.in)
			var e *tokens.Error
			if !errors.As(err, &e) || e.Kind != tokens.KindInvalid || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("CreateGroupDeployToken = %v, want invalid %s", err, tt.field)
			}
			ts, err := w.svc.ListGroupDeployTokens(ctx, owner, "corp", false)
			if err != nil || len(ts) != 0 {
				t.Fatalf("tokens after a refused create: %v, %v", ts, err)
			}
		})
	}
}

// TestGroupCIToken: a project's CI variables carry its own active
// gitlab-deploy-token, otherwise the nearest group's along its path (any
// ancestor, not only the parent); a revoked one is passed over.
func TestGroupCIToken(t *testing.T) {
	w := newGroupWorld(t)
	ctx := t.Context()
	owner := w.actors["owner"]
	ci := tokens.CreateDeployTokenInput{Name: tokens.CITokenName, Scopes: []string{tokens.ScopeReadRegistry}}
	user := func(t *testing.T) (string, string) {
		t.Helper()
		vars, warning, err := w.svc.CIVariables(ctx, owner, "corp/team/app", "registry.test", "http://deploytokens.test")
		if err != nil {
			t.Fatal(err)
		}
		var u, pw string
		for _, v := range vars {
			switch v.Key {
			case "CI_DEPLOY_USER":
				u = v.Value
			case "CI_DEPLOY_PASSWORD":
				pw = v.Value
			}
		}
		if u == "" && warning == "" {
			t.Error("no deploy variables and no warning")
		}
		return u, pw
	}
	if u, _ := user(t); u != "" {
		t.Fatalf("CI_DEPLOY_USER %q before any token", u)
	}
	top, topSecret, err := w.svc.CreateGroupDeployToken(ctx, owner, "corp", ci)
	if err != nil {
		t.Fatal(err)
	}
	var team, own tokens.DeployToken
	var teamSecret, ownSecret tokens.Secret
	steps := []struct {
		name       string
		do         func(t *testing.T)
		wantUser   string
		wantSecret *tokens.Secret
	}{
		{"grandparent's", func(*testing.T) {}, top.Username, &topSecret},
		{"nearest group's", func(t *testing.T) {
			if team, teamSecret, err = w.svc.CreateGroupDeployToken(ctx, owner, "corp/team", ci); err != nil {
				t.Fatal(err)
			}
		}, "", &teamSecret},
		{"the project's own", func(t *testing.T) {
			if own, ownSecret, err = w.svc.CreateDeployToken(ctx, owner, "corp/team/app", ci); err != nil {
				t.Fatal(err)
			}
		}, "", &ownSecret},
		{"own revoked: the nearest group's again", func(t *testing.T) {
			if err := w.svc.RevokeDeployToken(ctx, owner, "corp/team/app", own.ID); err != nil {
				t.Fatal(err)
			}
		}, "", &teamSecret},
		{"nearest revoked: the grandparent's", func(t *testing.T) {
			if err := w.svc.RevokeGroupDeployToken(ctx, owner, "corp/team", team.ID); err != nil {
				t.Fatal(err)
			}
		}, top.Username, &topSecret},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			u, pw := user(t)
			if pw != st.wantSecret.Reveal() {
				t.Errorf("CI_DEPLOY_PASSWORD is not the expected token's (user %q)", u)
			}
			if st.wantUser != "" && u != st.wantUser {
				t.Errorf("CI_DEPLOY_USER %q, want %q", u, st.wantUser)
			}
		})
	}
}

// TestInGroupSubtree: whole segments, any case, the group itself not.
func TestInGroupSubtree(t *testing.T) {
	tests := []struct {
		group, project string
		want           bool
	}{
		{"corp", "corp/a/app", true},
		{"corp", "corp/lib", true},
		{"corp", "Corp/Lib", true},
		{"corp/a", "corp/a/app", true},
		{"corp", "corp", false},
		{"corp", "corp/", false},
		{"corp", "corp2/x", false},
		{"corp", "other/x", false},
		{"corp/a", "corp/ab/x", false},
		{"corp/a", "corp/b/app", false},
		{"", "corp/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.group+" "+tt.project, func(t *testing.T) {
			if got := tokens.InGroupSubtree(tt.group, tt.project); got != tt.want {
				t.Errorf("InGroupSubtree(%q, %q) = %v, want %v", tt.group, tt.project, got, tt.want)
			}
		})
	}
}

package web

import (
	"context"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestHomeForAnAdminWithoutProjects: an administrator who sees no project
// is shown how to create a group and a project with the API, not told to
// ask a maintainer; other users still are, and the help goes once a
// project exists.
func TestHomeForAnAdminWithoutProjects(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	root := tokens.User{Username: "root", Name: "root", Admin: true, CreatedAt: time.Now()}
	if err := e.store.CreateUser(ctx, &root); err != nil {
		t.Fatal(err)
	}
	e.admin = &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	rootPAT := e.pat(root.ID, tokens.ScopeAPI)
	alicePAT := e.pat(e.user("alice").ID, tokens.ScopeAPI)

	home := func(t *testing.T, user, pat string) string {
		t.Helper()
		b := e.browser()
		b.signIn(user, pat)
		r := b.get("/")
		if r.Status != 200 {
			t.Fatalf("home: %d", r.Status)
		}
		return html.UnescapeString(r.Body)
	}
	createCalls := []string{
		`-d '{"name":"tanuki","path":"tanuki"}' http://deploytokens.test/api/v4/groups`,
		`-d '{"path":"app","namespace_path":"tanuki"}' http://deploytokens.test/api/v4/projects`,
		`curl -s -X POST -H "PRIVATE-TOKEN: <token>"`,
	}
	tests := []struct {
		name, user, pat   string
		withProject       bool
		want, wantMissing []string
	}{
		{"admin without projects", "root", rootPAT, false, append(createCalls, `id="admin-start"`), []string{"Ask a maintainer"}},
		{"user without projects", "alice", alicePAT, false, []string{"Ask a maintainer"}, []string{`id="admin-start"`, "/api/v4/groups"}},
		{"admin with a project", "root", rootPAT, true, []string{`href="/tanuki/app"`}, []string{`id="admin-start"`, "Ask a maintainer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.withProject {
				if _, err := e.svc.CreateProject(ctx, e.admin, tokens.CreateProjectInput{Path: "app", NamespacePath: "tanuki"}); err != nil {
					t.Fatal(err)
				}
			}
			body := home(t, tt.user, tt.pat)
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("home lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.wantMissing {
				if strings.Contains(body, s) {
					t.Errorf("home shows %q:\n%s", s, body)
				}
			}
		})
	}
}

package web

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// noListProjects fails the test on a read of every project, which the
// home page may not need (issue 21).
type noListProjects struct {
	tokens.Store
	t *testing.T
}

func (s noListProjects) ListProjects(ctx context.Context) ([]tokens.Project, error) {
	s.t.Error("ListProjects: every project read")
	return s.Store.ListProjects(ctx)
}

// TestHomePages: the home page lists the projects 20 to a page with
// GitLab-like previous and next links, without reading every project; a
// page past the end says so, a bad page number is a 400.
func TestHomePages(t *testing.T) {
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "web.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	e := newEnv(t, envOptions{store: noListProjects{bs, t}})
	ctx := context.Background()
	root := tokens.User{Username: "root", Name: "root", Admin: true, CreatedAt: time.Now()}
	if err := e.store.CreateUser(ctx, &root); err != nil {
		t.Fatal(err)
	}
	e.admin = &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	pat := e.pat(root.ID, tokens.ScopeAPI)
	const n = 45
	for i := range n {
		if _, err := e.svc.CreateProject(ctx, e.admin, tokens.CreateProjectInput{Path: fmt.Sprintf("app%02d", i), NamespacePath: "tanuki"}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.signIn("root", pat)
	tests := []struct {
		name, path  string
		status      int
		links       int // project links
		want, avoid []string
	}{
		{"first page", "/", 200, 20, []string{`href="/tanuki/app00"`, `href="/tanuki/app19"`, `href="/?page=2" rel="next"`, "Page 1 · 45 projects"}, []string{`rel="prev"`, "app20"}},
		{"second page", "/?page=2", 200, 20, []string{`href="/tanuki/app20"`, `href="/?page=1" rel="prev"`, `href="/?page=3" rel="next"`}, []string{"app19", "app40"}},
		{"last page", "/?page=3", 200, 5, []string{`href="/tanuki/app44"`, `rel="prev"`}, []string{`rel="next"`}},
		{"past the end", "/?page=4", 200, 0, []string{`id="no-projects-on-page"`}, []string{`id="admin-start"`}},
		{"bad page", "/?page=x", 400, 0, nil, nil},
		{"zero page", "/?page=0", 400, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.get(tt.path)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d", r.Status, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if got := strings.Count(r.Body, `href="/tanuki/app`); got != tt.links {
				t.Errorf("%d project links, want %d", got, tt.links)
			}
			for _, s := range tt.want {
				if !strings.Contains(r.Body, s) {
					t.Errorf("page lacks %q:\n%s", s, r.Body)
				}
			}
			for _, s := range tt.avoid {
				if strings.Contains(r.Body, s) {
					t.Errorf("page shows %q", s)
				}
			}
		})
	}
}

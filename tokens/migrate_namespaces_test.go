package tokens_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestMigrateNamespaces: projects stored before groups, in namespaces that
// are no username, end up in groups owned by their owners; personal ones
// stay; a second run changes nothing.
func TestMigrateNamespaces(t *testing.T) {
	ctx := t.Context()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	svc := &tokens.Service{Store: s, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	users := map[string]tokens.User{}
	for _, name := range []string{"root", "alice", "bob"} {
		u := tokens.User{Username: name, Name: name, CreatedAt: now}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		users[name] = u
	}
	project := func(path, owner string, vis tokens.Visibility) tokens.Project {
		t.Helper()
		p := tokens.Project{Path: path[strings.LastIndex(path, "/")+1:], PathWithNamespace: path, Visibility: vis, CreatorID: users[owner].ID, CreatedAt: now}
		if err := s.CreateProject(ctx, &p, tokens.Member{UserID: users[owner].ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := project("corp/a/app", "alice", tokens.Public)
	b := project("corp/b/lib", "bob", tokens.Private)
	mine := project("alice/tools", "alice", tokens.Private)

	n, err := svc.MigrateNamespaces(ctx)
	if err != nil || n != 2 {
		t.Fatalf("first run: %d, %v; want 2 moved", n, err)
	}
	for _, tc := range []struct {
		group      string
		owners     []int64
		visibility tokens.Visibility
		project    tokens.Project
	}{
		{"corp", []int64{users["alice"].ID, users["bob"].ID}, tokens.Public, tokens.Project{}},
		{"corp/a", []int64{users["alice"].ID}, tokens.Public, a},
		{"corp/b", []int64{users["bob"].ID}, tokens.Private, b},
	} {
		t.Run(tc.group, func(t *testing.T) {
			g, err := s.GroupByPath(ctx, tc.group)
			if err != nil {
				t.Fatal(err)
			}
			if g.Visibility != tc.visibility {
				t.Errorf("visibility %s, want %s", g.Visibility, tc.visibility)
			}
			ms, err := s.ListGroupMembers(ctx, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			var owners []int64
			for _, m := range ms {
				if m.AccessLevel == tokens.Owner {
					owners = append(owners, m.UserID)
				}
			}
			if !slices.Equal(owners, tc.owners) {
				t.Errorf("owners %v, want %v", owners, tc.owners)
			}
			if tc.project.ID != 0 {
				p, err := s.Project(ctx, tc.project.ID)
				if err != nil || p.NamespaceID != g.ID {
					t.Errorf("project %s: namespace %d, %v; want %d", p.PathWithNamespace, p.NamespaceID, err, g.ID)
				}
			}
		})
	}
	if p, err := s.Project(ctx, mine.ID); err != nil || p.NamespaceID != 0 {
		t.Errorf("personal project: namespace %d, %v; want 0", p.NamespaceID, err)
	}
	if _, err := s.GroupByPath(ctx, "alice"); err == nil {
		t.Error("a group was made of a username")
	}
	before, err := s.ListGroups(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := svc.MigrateNamespaces(ctx); err != nil || n != 0 {
		t.Fatalf("second run: %d, %v; want nothing done", n, err)
	}
	after, err := s.ListGroups(ctx, 0, 100)
	if err != nil || len(after) != len(before) {
		t.Fatalf("second run: %d groups, %v; want %d", len(after), err, len(before))
	}
}

package tokens_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// noListProjects is a store that fails the test on a read of every
// project, which no page and no create may need.
type noListProjects struct {
	tokens.Store
	t *testing.T
}

func (s noListProjects) ListProjects(ctx context.Context) ([]tokens.Project, error) {
	s.t.Error("ListProjects: every project read")
	return s.Store.ListProjects(ctx)
}

// TestPageVisibleProjects: every offset and keyset page, both ways, of
// what an admin and a user with private memberships see equals the same
// page of VisibleProjects (which reads everything), and none of them
// reads every project.
func TestPageVisibleProjects(t *testing.T) {
	ctx := t.Context()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "pages.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	now := time.Now()
	var users []tokens.User
	for _, name := range []string{"owner", "member", "stranger"} {
		u := tokens.User{Username: name, CreatedAt: now}
		if err := bs.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	vis := []tokens.Visibility{tokens.Private, tokens.Private, tokens.Internal, tokens.Public, tokens.Private}
	for i := range 23 {
		p := tokens.Project{Path: fmt.Sprint("p", i), PathWithNamespace: fmt.Sprint("owner/p", i), Visibility: vis[i%len(vis)], CreatedAt: now}
		if err := bs.CreateProject(ctx, &p, tokens.Member{UserID: users[0].ID, AccessLevel: tokens.Owner, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 || i == 22 { // private ones among them, first and last too
			if err := bs.PutMember(ctx, tokens.Member{ProjectID: p.ID, UserID: users[1].ID, AccessLevel: tokens.Developer, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ref := &tokens.Service{Store: bs}
	svc := &tokens.Service{Store: noListProjects{bs, t}}
	actors := []struct {
		name  string
		actor *tokens.Actor
	}{
		{"admin", &tokens.Actor{User: tokens.User{ID: 99, Username: "root", Admin: true}}},
		{"member", &tokens.Actor{User: users[1]}},
		{"stranger", &tokens.Actor{User: users[2]}},
	}
	ids := func(ps []tokens.Project) []int64 {
		out := []int64{}
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	for _, a := range actors {
		all, err := ref.VisibleProjects(ctx, a.actor)
		if err != nil {
			t.Fatal(err)
		}
		want := ids(all)
		rev := slices.Clone(want)
		slices.Reverse(rev)
		for _, desc := range []bool{false, true} {
			order := want
			if desc {
				order = rev
			}
			for _, limit := range []int{1, 2, 3, 5, 100} {
				t.Run(fmt.Sprintf("%s/desc=%v/per_page=%d", a.name, desc, limit), func(t *testing.T) {
					for offset := 0; offset <= len(want)+limit; offset += limit {
						ps, total, _, err := svc.PageVisibleProjects(ctx, a.actor, tokens.ProjectQuery{Page: tokens.Page{Offset: offset, Limit: limit}, Desc: desc})
						if w := tokens.PageOf(order, tokens.Page{Offset: offset, Limit: limit}); err != nil || !slices.Equal(ids(ps), w) || total != len(want) {
							t.Fatalf("offset %d: %v of %d, %v; want %v of %d", offset, ids(ps), total, err, w, len(want))
						}
					}
					var got []int64
					after := int64(0)
					for pages := 0; ; pages++ {
						ps, _, more, err := svc.PageVisibleProjects(ctx, a.actor, tokens.ProjectQuery{Page: tokens.Page{Limit: limit}, Keyset: true, After: after, Desc: desc})
						if err != nil || pages > len(want) {
							t.Fatalf("keyset after %d: %v (page %d)", after, err, pages)
						}
						got = append(got, ids(ps)...)
						if !more {
							break
						}
						after = ps[len(ps)-1].ID
					}
					if !slices.Equal(got, order) {
						t.Errorf("keyset walk = %v; want %v", got, order)
					}
				})
			}
		}
	}
	t.Run("create checks nesting from the path index", func(t *testing.T) {
		owner := &tokens.Actor{User: users[0]}
		for _, c := range []struct {
			path, ns, wantErr string
		}{
			{"x", "owner/p3", `path cannot be nested with project "owner/p3"`},
			{"fresh", "owner", ""},
		} {
			_, err := svc.CreateProject(ctx, owner, tokens.CreateProjectInput{Path: c.path, NamespacePath: c.ns})
			if got := fmt.Sprint(err); (c.wantErr == "" && err != nil) || (c.wantErr != "" && got != c.wantErr) {
				t.Errorf("CreateProject(%s/%s) = %v; want %q", c.ns, c.path, err, c.wantErr)
			}
		}
	})
}

package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestAdminListsPageGitLabClient pages an admin's GET /groups and GET
// /namespaces with GitLab's Go client, on both stores: every page carries
// the total, its page count and a last link, and the pages put together
// are every group (every user, then every group, for namespaces) once, in
// ID order, a page that straddles users and groups included. Lists that
// are filtered after reading keep GitLab's headers without totals
// (groups) or stay bounded by the caller's memberships (namespaces).
func TestAdminListsPageGitLabClient(t *testing.T) {
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) { testAdminListsPage(t, startServer(t, st.mod)) })
	}
}

// pageWalk is what one list answered, page by page up to the first page
// with no next one, with each page's headers as GitLab's client reads them.
type pageWalk struct {
	ids   []string // kind:id, or id for groups, in the order answered
	pages []*gitlab.Response
}

func walk(t *testing.T, list func(page int64) ([]string, *gitlab.Response, error)) pageWalk {
	t.Helper()
	var w pageWalk
	for page := int64(1); page < 100; page++ {
		ids, r, err := list(page)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		w.ids = append(w.ids, ids...)
		w.pages = append(w.pages, r)
		if r.NextPage == 0 {
			return w
		}
		if r.NextPage != page+1 {
			t.Fatalf("page %d: next %d", page, r.NextPage)
		}
	}
	t.Fatal("no last page")
	return w
}

func testAdminListsPage(t *testing.T, s *testServer) {
	aliceID, alice := s.user(t, "alice")
	bobID, bob := s.user(t, "bob")
	_, carol := s.user(t, "carol")
	var groups []string
	for _, g := range []struct{ token, path string }{
		{alice, "corp"}, {alice, "corp/team0"}, {alice, "corp/team1"}, {alice, "corp/team0/deep"}, {carol, "secret"},
	} {
		groups = append(groups, fmt.Sprint(s.groupAt(t, g.token, g.path).ID))
	}
	s.groupMember(t, alice, "corp/team1", bobID, 30)

	client := func(token string) *gitlab.Client {
		gl, err := gitlab.NewClient(token, gitlab.WithBaseURL(s.URL+"/api/v4"))
		if err != nil {
			t.Fatal(err)
		}
		return gl
	}
	admin := client(s.AdminToken)
	us, _, err := admin.Users.ListUsers(&gitlab.ListUsersOptions{ListOptions: gitlab.ListOptions{PerPage: 100}})
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, u := range us {
		users = append(users, fmt.Sprintf("user:%d", tokens.UserNamespaceBase+u.ID))
	}
	slices.Sort(users) // same width: the IDs' order
	var groupNamespaces []string
	for _, g := range groups {
		groupNamespaces = append(groupNamespaces, "group:"+g)
	}

	listGroups := func(gl *gitlab.Client, opt gitlab.ListGroupsOptions, perPage int64) func(int64) ([]string, *gitlab.Response, error) {
		return func(page int64) ([]string, *gitlab.Response, error) {
			opt.ListOptions = gitlab.ListOptions{Page: page, PerPage: perPage}
			gs, r, err := gl.Groups.ListGroups(&opt)
			var ids []string
			for _, g := range gs {
				ids = append(ids, fmt.Sprint(g.ID))
			}
			return ids, r, err
		}
	}
	listNamespaces := func(gl *gitlab.Client, opt gitlab.ListNamespacesOptions, perPage int64) func(int64) ([]string, *gitlab.Response, error) {
		return func(page int64) ([]string, *gitlab.Response, error) {
			opt.ListOptions = gitlab.ListOptions{Page: page, PerPage: perPage}
			ns, r, err := gl.Namespaces.ListNamespaces(&opt)
			var ids []string
			for _, n := range ns {
				ids = append(ids, fmt.Sprintf("%s:%d", n.Kind, n.ID))
			}
			return ids, r, err
		}
	}
	bobNamespaces := []string{fmt.Sprintf("user:%d", tokens.UserNamespaceBase+bobID), "group:" + groups[2]}

	tests := []struct {
		name    string
		list    func(int64) ([]string, *gitlab.Response, error)
		want    []string
		perPage int64
		counted bool // X-Total, X-Total-Pages and a last link on every page
	}{
		{"admin groups", listGroups(admin, gitlab.ListGroupsOptions{}, 2), groups, 2, true},
		{"admin groups, one page", listGroups(admin, gitlab.ListGroupsOptions{}, 100), groups, 100, true},
		{"admin groups searched", listGroups(admin, gitlab.ListGroupsOptions{Search: gitlab.Ptr("team")}, 2), []string{groups[1], groups[2], groups[3]}, 2, false},
		{"admin top-level groups", listGroups(admin, gitlab.ListGroupsOptions{TopLevelOnly: gitlab.Ptr(true)}, 1), []string{groups[0], groups[4]}, 1, false},
		{"member's groups", listGroups(client(alice), gitlab.ListGroupsOptions{}, 2), groups[:4], 2, false},
		// 3 a page: with root and three users, the second page holds
		// the last user and the first two groups.
		{"admin namespaces", listNamespaces(admin, gitlab.ListNamespacesOptions{}, 3), append(slices.Clone(users), groupNamespaces...), 3, true},
		{"admin namespaces, one a page", listNamespaces(admin, gitlab.ListNamespacesOptions{}, 1), append(slices.Clone(users), groupNamespaces...), 1, true},
		// Every group's name holds "o" ("Name of ..."); alice's doesn't.
		{"admin namespaces searched", listNamespaces(admin, gitlab.ListNamespacesOptions{Search: gitlab.Ptr("o")}, 2),
			append(slices.DeleteFunc(slices.Clone(users), func(u string) bool { return u == fmt.Sprintf("user:%d", tokens.UserNamespaceBase+aliceID) }), groupNamespaces...), 2, true},
		{"member's namespaces", listNamespaces(client(bob), gitlab.ListNamespacesOptions{}, 1), bobNamespaces, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := walk(t, tt.list)
			if !slices.Equal(w.ids, tt.want) {
				t.Errorf("listed %v; want %v", w.ids, tt.want)
			}
			wantPages := max(1, (int64(len(tt.want))+tt.perPage-1)/tt.perPage)
			for i, r := range w.pages {
				page := int64(i + 1)
				last := strings.Contains(r.Header.Get("Link"), `rel="last"`)
				switch {
				case r.CurrentPage != page || r.ItemsPerPage != tt.perPage:
					t.Errorf("page %d: X-Page %d, X-Per-Page %d", page, r.CurrentPage, r.ItemsPerPage)
				case tt.counted && (r.TotalItems != int64(len(tt.want)) || r.TotalPages != wantPages || !last):
					t.Errorf("page %d: total %d in %d pages, last link %t; want %d in %d with a last link",
						page, r.TotalItems, r.TotalPages, last, len(tt.want), wantPages)
				case !tt.counted && (r.Header.Get("X-Total") != "" || r.Header.Get("X-Total-Pages") != "" || last):
					t.Errorf("page %d: X-Total %q, X-Total-Pages %q, last link %t; want none", page,
						r.Header.Get("X-Total"), r.Header.Get("X-Total-Pages"), last)
				}
			}
			if !tt.counted {
				return
			}
			// Past the end: nothing, with the same totals.
			ids, r, err := tt.list(wantPages + 1)
			if err != nil || len(ids) != 0 || r.TotalItems != int64(len(tt.want)) || r.PreviousPage != wantPages {
				t.Errorf("past the end: %v of %d, prev %d, %v", ids, r.TotalItems, r.PreviousPage, err)
			}
		})
	}
}

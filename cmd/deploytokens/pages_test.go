package main

import (
	"fmt"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestGroupListsPageGitLabClient pages group lists with GitLab's Go client
// and checks the pagination it reads: totals, page counts and next pages
// on the first, a middle, the last and a page past the end.
func TestGroupListsPageGitLabClient(t *testing.T) {
	s := startServer(t, redisConfig(t))
	_, alice := s.user(t, "alice")
	s.groupAt(t, alice, "corp")
	for i := range 5 {
		s.groupAt(t, alice, fmt.Sprintf("corp/team%d", i))
		s.groupDeployToken(t, alice, "corp", map[string]any{"name": fmt.Sprint("t", i), "scopes": []string{"read_registry"}})
	}
	gl, err := gitlab.NewClient(alice, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string]func(page int) (int, *gitlab.Response, error){
		"subgroups": func(page int) (int, *gitlab.Response, error) {
			v, r, err := gl.Groups.ListSubGroups("corp", &gitlab.ListSubGroupsOptions{ListOptions: gitlab.ListOptions{Page: int64(page), PerPage: 2}})
			return len(v), r, err
		},
		"group deploy tokens": func(page int) (int, *gitlab.Response, error) {
			v, r, err := gl.DeployTokens.ListGroupDeployTokens("corp", &gitlab.ListGroupDeployTokensOptions{ListOptions: gitlab.ListOptions{Page: int64(page), PerPage: 2}})
			return len(v), r, err
		},
	}
	pages := []struct {
		page, want int
		next       int64
	}{
		{1, 2, 2}, {2, 2, 3}, {3, 1, 0}, {4, 0, 0},
	}
	for name, list := range lists {
		for _, pg := range pages {
			t.Run(fmt.Sprintf("%s/page %d", name, pg.page), func(t *testing.T) {
				n, r, err := list(pg.page)
				if err != nil {
					t.Fatal(err)
				}
				if n != pg.want || r.TotalItems != 5 || r.TotalPages != 3 || r.NextPage != pg.next || r.CurrentPage != int64(pg.page) {
					t.Errorf("%d items, total %d in %d pages, page %d, next %d; want %d, 5 in 3, page %d, next %d",
						n, r.TotalItems, r.TotalPages, r.CurrentPage, r.NextPage, pg.want, pg.page, pg.next)
				}
			})
		}
	}
}

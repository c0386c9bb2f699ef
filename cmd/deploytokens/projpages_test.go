package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestProjectPagination pages GET /projects by offset (with totals) and by
// keyset (GitLab's client following rel="next", no totals), as an admin
// and as a user who sees the internal and public projects and their own
// private ones; refuses bad pagination parameters with a 400 naming them;
// and pages a project's deploy tokens, on both stores.
func TestProjectPagination(t *testing.T) {
	for _, store := range []struct {
		name string
		mod  func(t *testing.T) func(*Config)
	}{
		{"embedded", func(*testing.T) func(*Config) { return nil }},
		{"redis", redisConfig},
	} {
		t.Run(store.name, func(t *testing.T) {
			s := startServer(t, store.mod(t))
			_, alice := s.user(t, "alice")
			bobID, bob := s.user(t, "bob")
			var all, bobSees []string
			for i, vis := range []string{"private", "internal", "public", "private", "private", "internal", "public"} {
				p := s.project(t, alice, fmt.Sprintf("alice/app%d", i), vis)
				all = append(all, p.PathWithNamespace)
				if vis != "private" || i == 3 {
					bobSees = append(bobSees, p.PathWithNamespace)
				}
			}
			s.member(t, "alice/app3", bobID, 30)

			keyset := func(t *testing.T, token, sort string) []string {
				gl, err := gitlab.NewClient(token, gitlab.WithBaseURL(s.URL+"/api/v4"))
				if err != nil {
					t.Fatal(err)
				}
				opt := &gitlab.ListProjectsOptions{ListOptions: gitlab.ListOptions{Pagination: "keyset", PerPage: 2, OrderBy: "id", Sort: sort}}
				var (
					got  []string
					more []gitlab.RequestOptionFunc
				)
				for pages := 0; pages <= len(all); pages++ {
					ps, resp, err := gl.Projects.ListProjects(opt, more...)
					if err != nil {
						t.Fatalf("ListProjects: %v", err)
					}
					if resp.Header.Get("X-Total") != "" || resp.Header.Get("X-Total-Pages") != "" {
						t.Errorf("keyset page with totals: %v", resp.Header)
					}
					for _, p := range ps {
						got = append(got, p.PathWithNamespace)
					}
					if resp.NextLink == "" {
						return got
					}
					more = []gitlab.RequestOptionFunc{gitlab.WithKeysetPaginationParameters(resp.NextLink)}
				}
				t.Fatalf("keyset pages never end: %v", got)
				return nil
			}
			reversed := func(v []string) []string { v = slices.Clone(v); slices.Reverse(v); return v }
			for _, c := range []struct {
				name, token, sort string
				want              []string
			}{
				{"admin ascending", s.AdminToken, "asc", all},
				{"admin descending", s.AdminToken, "desc", reversed(all)},
				{"user ascending", bob, "asc", bobSees},
				{"user descending", bob, "desc", reversed(bobSees)},
			} {
				t.Run("keyset/"+c.name, func(t *testing.T) {
					if got := keyset(t, c.token, c.sort); !slices.Equal(got, c.want) {
						t.Errorf("keyset pages = %v; want %v", got, c.want)
					}
				})
			}

			t.Run("offset", func(t *testing.T) {
				var ps []projectInfo
				r := s.mustAPI(t, 200, "GET", "/projects?page=2&per_page=2", bob, nil, &ps)
				if h := r.Header; h.Get("X-Total") != fmt.Sprint(len(bobSees)) || h.Get("X-Total-Pages") != "3" || h.Get("X-Next-Page") != "3" {
					t.Errorf("headers: %v", h)
				}
				if len(ps) != 2 || ps[0].PathWithNamespace != bobSees[2] || ps[1].PathWithNamespace != bobSees[3] {
					t.Errorf("page 2: %v; want %v", ps, bobSees[2:4])
				}
				ps = nil
				s.mustAPI(t, 200, "GET", "/projects?per_page=3&order_by=id&sort=desc", s.AdminToken, nil, &ps)
				if len(ps) != 3 || ps[0].PathWithNamespace != all[len(all)-1] {
					t.Errorf("descending: %v", ps)
				}
			})

			t.Run("bad parameters", func(t *testing.T) {
				for _, c := range []struct{ query, param, says string }{
					{"pagination=cursor", "pagination", ""},
					{"pagination=keyset&order_by=name", "order_by", ""},
					{"order_by=star_count", "order_by", ""},
					{"sort=up", "sort", ""},
					{"pagination=keyset&id_after=x", "id_after", ""},
					{"pagination=keyset&id_after=0", "id_after", ""},
					{"id_after=3", "id_after", ""},
					{"pagination=keyset&sort=desc&id_after=3", "id_after", "needs sort=asc"},
					{"pagination=keyset&id_before=3", "id_before", "needs sort=desc"},
					{"per_page=0", "per_page", ""},
				} {
					r := s.api(t, "GET", "/projects?"+c.query, bob, nil)
					if r.Status != 400 || !strings.HasPrefix(r.message(), c.param+" ") || !strings.Contains(r.message(), c.says) {
						t.Errorf("%s: %d %s; want 400 naming %s %s", c.query, r.Status, r.Body, c.param, c.says)
					}
				}
			})

			t.Run("members", func(t *testing.T) {
				var ms []struct {
					Username string `json:"username"`
				}
				r := s.mustAPI(t, 200, "GET", "/projects/alice%2Fapp3/members?page=2&per_page=1", alice, nil, &ms)
				if r.Header.Get("X-Total") != "2" || len(ms) != 1 || ms[0].Username != "bob" {
					t.Errorf("page 2 of 2: %v, X-Total %q", ms, r.Header.Get("X-Total"))
				}
			})

			t.Run("deploy tokens", func(t *testing.T) {
				var ids []int64
				for i := range 5 {
					ids = append(ids, s.deployToken(t, alice, "alice/app0", map[string]any{"name": fmt.Sprint("t", i), "scopes": []string{"read_registry"}}).ID)
				}
				var ts []deployTokenInfo
				r := s.mustAPI(t, 200, "GET", "/projects/alice%2Fapp0/deploy_tokens?page=2&per_page=2", alice, nil, &ts)
				if r.Header.Get("X-Total") != "5" || len(ts) != 2 || ts[0].ID != ids[2] || ts[1].ID != ids[3] {
					t.Errorf("page 2 of 5: %v, X-Total %q", ts, r.Header.Get("X-Total"))
				}
			})
		})
	}
}

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// switchableRegistry is a proxy in front of the real registry that answers
// 503 while down, standing for a registry that can't be reached.
type switchableRegistry struct {
	srv    *httptest.Server
	target atomic.Pointer[httputil.ReverseProxy]
	down   atomic.Bool
}

func newSwitchableRegistry(t *testing.T) *switchableRegistry {
	sw := &switchableRegistry{}
	sw.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := sw.target.Load()
		if sw.down.Load() || p == nil {
			http.Error(w, "registry down", http.StatusServiceUnavailable)
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(sw.srv.Close)
	return sw
}

// pullErr pulls ref with crane logged in as user, and answers the error.
func pullErr(t *testing.T, e *registryEnv, user, pass, ref string) error {
	t.Helper()
	c := testenv.Crane(t)
	if err := c.Login(e.reg.Host(), user, pass); err != nil {
		t.Fatal(err)
	}
	return c.Pull(e.ref(ref))
}

// TestDeletedPathStaysDead is the attack of issue 19: alice deletes her
// private old/img, bob creates old/img and exports alice's images. With the
// registry known the images are deleted with the project (at once, or in
// the background when the registry is down); without it the path stays
// reserved until an admin releases it.
func TestDeletedPathStaysDead(t *testing.T) {
	t.Run("registry known", func(t *testing.T) {
		sw := newSwitchableRegistry(t)
		port := testenv.FreePort(t)
		e := startRegistryEnvAt(t, port, func(c *Config) { c.RegistryURL = sw.srv.URL })
		target, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
		sw.target.Store(httputil.NewSingleHostReverseProxy(target))
		s := e.s
		_, alice := s.user(t, "alice", "api", "write_registry")
		bobID, bob := s.user(t, "bob", "api", "write_registry")
		gl, err := gitlab.NewClient(alice, gitlab.WithBaseURL(s.URL+"/api/v4"))
		if err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name, path string
			down       bool
		}{
			{"purged at once", "old/img", false},
			{"purged in the background", "later/img", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s.project(t, alice, tc.path, "private")
				// Bob may create in alice's group, so only the dead path
				// stands in his way.
				s.groupMember(t, alice, strings.Split(tc.path, "/")[0], bobID, 40)
				for _, img := range []string{tc.path + ":v1", tc.path + "/sub:v1"} {
					if _, err := testenv.PushRandomImage(t, e.ref(img), "alice", alice); err != nil {
						t.Fatalf("alice push %s: %v\nregistry log:\n%s", img, err, e.reg.Log())
					}
				}
				sw.down.Store(tc.down)
				// GitLab's own client deletes, whatever the answer adds.
				resp, err := gl.Projects.DeleteProject(tc.path, nil)
				if err != nil || resp.StatusCode != 202 {
					t.Fatalf("DeleteProject: %v", err)
				}
				if tc.down {
					r := s.api(t, "POST", "/projects", bob, map[string]any{"path": "img", "namespace_path": strings.Split(tc.path, "/")[0]})
					if r.Status != 400 || !strings.Contains(r.message(), "images are being deleted") {
						t.Fatalf("create while the purge is pending: %d %s", r.Status, r.Body)
					}
					sw.down.Store(false)
					if left, err := s.app.service.RetryPurges(t.Context()); err != nil || left != 0 {
						t.Fatalf("RetryPurges = %d, %v", left, err)
					}
				}
				s.project(t, bob, tc.path, "private")
				for _, img := range []string{tc.path + ":v1", tc.path + "/sub:v1"} {
					err := pullErr(t, e, "bob", bob, img)
					if err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
						t.Errorf("bob pulls alice's %s: %v", img, err)
					}
				}
				// Bob's own image at the path is his to push and pull.
				if _, err := testenv.PushRandomImage(t, e.ref(tc.path+":v1"), "bob", bob); err != nil {
					t.Fatalf("bob push: %v", err)
				}
				if err := pullErr(t, e, "bob", bob, tc.path+":v1"); err != nil {
					t.Errorf("bob pulls his own image: %v", err)
				}
			})
		}
		// Other projects' images are untouched by the purges.
		if err := pullErr(t, e, "dev", e.dev, "tanuki/app:v1"); err != nil {
			t.Errorf("pull of another project's image: %v", err)
		}
		var reserved []any
		s.mustAPI(t, 200, "GET", "/admin/reserved_paths", s.AdminToken, nil, &reserved)
		if len(reserved) != 0 {
			t.Errorf("reserved paths once purged: %v", reserved)
		}
	})

	t.Run("registry unknown", func(t *testing.T) {
		e := startRegistryEnv(t, nil)
		s := e.s
		_, alice := s.user(t, "alice", "api", "write_registry")
		bobID, bob := s.user(t, "bob", "api", "write_registry")
		s.project(t, alice, "old/img", "private")
		s.groupMember(t, alice, "old", bobID, 40)
		for _, img := range []string{"old/img:v1", "old/img/sub:v1"} {
			if _, err := testenv.PushRandomImage(t, e.ref(img), "alice", alice); err != nil {
				t.Fatalf("alice push %s: %v", img, err)
			}
		}
		var answer struct {
			Message  string `json:"message"`
			Reserved bool   `json:"path_reserved"`
			Reason   string `json:"path_reserved_reason"`
		}
		s.mustAPI(t, 202, "DELETE", "/projects/old%2Fimg", alice, nil, &answer)
		if answer.Message != "202 Accepted" || !answer.Reserved || !strings.Contains(answer.Reason, "DEPLOYTOKENS_REGISTRY_URL") {
			t.Errorf("delete answered %+v", answer)
		}
		for _, tc := range []struct {
			name, namespace, path string
			want                  int
		}{
			{"the path", "old", "img", 400},
			{"the path in other case", "Old", "Img", 400},
			{"inside it", "old/img", "sub", 400},
			{"beside it", "old", "img2", 201},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.api(t, "POST", "/projects", bob, map[string]any{"path": tc.path, "namespace_path": tc.namespace})
				if r.Status != tc.want || (tc.want == 400 && !strings.Contains(r.message(), "only an admin may release it")) {
					t.Errorf("create %s/%s: %d %s", tc.namespace, tc.path, r.Status, r.Body)
				}
			})
		}
		if r := s.api(t, "POST", "/projects", s.AdminToken, map[string]any{"path": "img", "namespace_path": "old"}); r.Status != 400 {
			t.Errorf("admin create at a reserved path: %d %s", r.Status, r.Body)
		}
		if r := s.api(t, "GET", "/admin/reserved_paths", bob, nil); r.Status != 403 {
			t.Errorf("list reserved paths as a user: %d %s", r.Status, r.Body)
		}
		if r := s.api(t, "DELETE", "/admin/reserved_paths/old%2Fimg", bob, nil); r.Status != 403 {
			t.Errorf("release as a user: %d %s", r.Status, r.Body)
		}
		var reserved []struct {
			Path    string `json:"path"`
			Purging bool   `json:"images_being_deleted"`
		}
		s.mustAPI(t, 200, "GET", "/admin/reserved_paths", s.AdminToken, nil, &reserved)
		if len(reserved) != 1 || reserved[0].Path != "old/img" || reserved[0].Purging {
			t.Errorf("reserved paths: %+v", reserved)
		}
		s.mustAPI(t, 204, "DELETE", "/admin/reserved_paths/old%2Fimg", s.AdminToken, nil, nil)
		s.mustAPI(t, 404, "DELETE", "/admin/reserved_paths/old%2Fimg", s.AdminToken, nil, nil)
		s.project(t, bob, "old/img", "private")
	})
}

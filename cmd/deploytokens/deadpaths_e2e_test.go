package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
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

// registryToken asks /jwt/auth for scope as user:pass, and answers the token.
func registryToken(t *testing.T, s *testServer, user, pass, scope string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?service="+s.cfg.RegistryService+"&scope="+url.QueryEscape(scope), nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.Token == "" {
		t.Fatalf("/jwt/auth %s as %s: %d, %v", scope, user, resp.StatusCode, err)
	}
	return body.Token
}

func mustRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushWithToken pushes a random image to ref with a registry token.
func pushWithToken(t *testing.T, ref, token string) error {
	t.Helper()
	r := mustRef(t, ref)
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Write(r, img, remote.WithContext(t.Context()), remote.WithAuth(&authn.Bearer{Token: token}))
}

// ageDeadPath moves the delete of path's project back by d, as if that
// long had passed: registry tokens issued before it have expired since.
func ageDeadPath(t *testing.T, s *testServer, path string, d time.Duration) {
	t.Helper()
	ds, err := tokens.DeadPaths(t.Context(), s.app.store)
	if err != nil {
		t.Fatal(err)
	}
	for _, dp := range ds {
		if dp.Path == path {
			dp.DeletedAt = dp.DeletedAt.Add(-d)
			if err := s.app.store.ReserveDeadPath(t.Context(), dp); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("%s is not reserved: %+v", path, ds)
}

// TestDeletedPathStaysDead is the attack of issue 19: alice deletes her
// private old/img, bob creates old/img and exports alice's images. With the
// registry known the images are deleted with the project (at once, or in
// the background when the registry is down), and the path stays reserved
// until the registry tokens issued before the delete have expired: alice
// pushes with hers after the purge, and a last purge deletes that too.
// Bob can't read alice's images by tag, nor their manifests and layers by
// digest. Without the registry known the path stays reserved until an
// admin releases it.
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
				var digest string
				for _, img := range []string{tc.path + ":v1", tc.path + "/sub:v1"} {
					d, err := testenv.PushRandomImage(t, e.ref(img), "alice", alice)
					if err != nil {
						t.Fatalf("alice push %s: %v\nregistry log:\n%s", img, err, e.reg.Log())
					}
					digest = cmp.Or(digest, d)
				}
				ac := testenv.Crane(t)
				if err := ac.Login(e.reg.Host(), "alice", alice); err != nil {
					t.Fatal(err)
				}
				raw, err := ac.Manifest(e.ref(tc.path + "@" + digest))
				var m struct {
					Layers []struct{ Digest string } `json:"layers"`
				}
				if err != nil || json.Unmarshal(raw, &m) != nil || len(m.Layers) == 0 {
					t.Fatalf("alice's manifest: %s, %v", raw, err)
				}
				layer := m.Layers[0].Digest
				// A token alice holds from before the delete.
				old := registryToken(t, s, "alice", alice, "repository:"+tc.path+":push,pull")
				sw.down.Store(tc.down)
				// GitLab's own client deletes, whatever the answer adds.
				resp, err := gl.Projects.DeleteProject(tc.path, nil)
				if err != nil || resp.StatusCode != 202 {
					t.Fatalf("DeleteProject: %v", err)
				}
				r := s.api(t, "POST", "/projects", bob, map[string]any{"path": "img", "namespace_path": strings.Split(tc.path, "/")[0]})
				if r.Status != 400 || !strings.Contains(r.message(), "images are being deleted") {
					t.Fatalf("create while the purge is pending: %d %s", r.Status, r.Body)
				}
				if tc.down {
					sw.down.Store(false)
				}
				// The images are deleted; the path waits for old tokens.
				if left, err := s.app.service.RetryPurges(t.Context()); err != nil || left != 1 {
					t.Fatalf("RetryPurges before the old tokens expired = %d, %v", left, err)
				}
				if _, err := remote.Get(mustRef(t, e.ref(tc.path+":v1")), remote.WithAuth(&authn.Bearer{Token: old})); err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
					t.Errorf("alice's image after the purge, with her token from before: %v", err)
				}
				// The registry takes alice's token until it expires.
				if err := pushWithToken(t, e.ref(tc.path+":late"), old); err != nil {
					t.Fatalf("push with a token from before the delete: %v", err)
				}
				ageDeadPath(t, s, tc.path, s.cfg.TokenLifetime+time.Minute)
				if left, err := s.app.service.RetryPurges(t.Context()); err != nil || left != 0 {
					t.Fatalf("RetryPurges once the old tokens expired = %d, %v", left, err)
				}
				s.project(t, bob, tc.path, "private")
				for _, img := range []string{tc.path + ":v1", tc.path + "/sub:v1", tc.path + ":late"} {
					err := pullErr(t, e, "bob", bob, img)
					if err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
						t.Errorf("bob pulls alice's %s: %v", img, err)
					}
				}
				// Nor by digest: the manifest and its layer are gone from
				// the repository too.
				bc := testenv.Crane(t)
				if err := bc.Login(e.reg.Host(), "bob", bob); err != nil {
					t.Fatal(err)
				}
				if out, err := bc.Manifest(e.ref(tc.path + "@" + digest)); err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
					t.Errorf("bob gets alice's manifest by digest: %s %v", out, err)
				}
				if out, err := bc.Run("blob", "--insecure", e.ref(tc.path+"@"+layer)); err == nil || !strings.Contains(out+err.Error(), "BLOB_UNKNOWN") {
					t.Errorf("bob gets alice's layer by digest: %d bytes, %v", len(out), err)
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

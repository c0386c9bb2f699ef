package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitTry runs git and answers its combined output and error.
func gitTry(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir(),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestGitEndToEnd is the seed's git clone with a deploy token, with the
// real git client.
func TestGitEndToEnd(t *testing.T) {
	s := startServer(t, nil)
	devID, dev := s.user(t, "dev")
	for _, p := range []struct{ path, vis string }{{"tanuki/awesome_project", "private"}, {"tanuki/secret", "private"}, {"tanuki/open", "public"}} {
		s.project(t, s.AdminToken, p.path, p.vis)
		s.member(t, p.path, devID, 30)
	}
	host := strings.TrimPrefix(s.URL, "http://")
	cred := func(user, pass, path string) string {
		return fmt.Sprintf("http://%s:%s@%s/%s.git", user, pass, host, path)
	}
	work := t.TempDir()

	t.Run("1 developer pushes two commits", func(t *testing.T) {
		gitRun(t, work, "init", "-q", "-b", "main", "src")
		src := filepath.Join(work, "src")
		for i := range 2 {
			os.WriteFile(filepath.Join(src, "file"), []byte(fmt.Sprint("version ", i)), 0o644)
			gitRun(t, src, "add", ".")
			gitRun(t, src, "commit", "-q", "-m", fmt.Sprint("commit ", i))
		}
		gitRun(t, src, "push", "-q", cred("dev", dev, "tanuki/awesome_project"), "main")
		gitRun(t, src, "push", "-q", cred("dev", dev, "tanuki/open"), "main")
		gitRun(t, src, "push", "-q", cred("dev", dev, "tanuki/secret"), "main")
	})
	d := s.deployToken(t, s.AdminToken, "tanuki/awesome_project", map[string]any{"name": "cloner", "scopes": []string{"read_repository"}})
	t.Run("2 clone, fetch, shallow, protocol v2", func(t *testing.T) {
		url := cred(d.Username, d.Token, "tanuki/awesome_project")
		dst := filepath.Join(t.TempDir(), "c")
		gitRun(t, work, "clone", "-q", url, dst)
		if n := strings.TrimSpace(gitRun(t, dst, "rev-list", "--count", "HEAD")); n != "2" {
			t.Fatalf("clone has %s commits", n)
		}
		gitRun(t, dst, "fetch", "-q", "origin")
		shallow := filepath.Join(t.TempDir(), "s")
		gitRun(t, work, "clone", "-q", "--depth", "1", url, shallow)
		if n := strings.TrimSpace(gitRun(t, shallow, "rev-list", "--count", "HEAD")); n != "1" {
			t.Fatalf("shallow clone has %s commits", n)
		}
		v2 := filepath.Join(t.TempDir(), "v2")
		out := gitRun(t, work, "-c", "protocol.version=2", "clone", url, v2)
		_ = out
		if n := strings.TrimSpace(gitRun(t, v2, "rev-list", "--count", "HEAD")); n != "2" {
			t.Fatalf("v2 clone has %s commits", n)
		}
		// Without .git too.
		gitRun(t, work, "clone", "-q", strings.TrimSuffix(url, ".git"), filepath.Join(t.TempDir(), "nosuffix"))
	})
	t.Run("last use is recorded", func(t *testing.T) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			tok, err := s.app.store.DeployToken(context.Background(), 1, d.ID)
			if err == nil && tok.LastUsedAt != nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("last_used_at not set: %+v %v", tok, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("3 deploy token cannot push, nor read another project, nor after revocation", func(t *testing.T) {
		out, err := gitTry(t, filepath.Join(work, "src"), "push", cred(d.Username, d.Token, "tanuki/awesome_project"), "main:other")
		if err == nil || !strings.Contains(out, "You are not allowed to upload code.") {
			t.Fatalf("push: %v\n%s", err, out)
		}
		if out, err := gitTry(t, work, "clone", cred(d.Username, d.Token, "tanuki/secret"), filepath.Join(t.TempDir(), "x")); err == nil {
			t.Fatalf("cloned another project: %s", out)
		}
		d2 := s.deployToken(t, s.AdminToken, "tanuki/awesome_project", map[string]any{"name": "soon-revoked", "scopes": []string{"read_repository"}})
		gitRun(t, work, "clone", "-q", cred(d2.Username, d2.Token, "tanuki/awesome_project"), filepath.Join(t.TempDir(), "ok"))
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/tanuki%%2Fawesome_project/deploy_tokens/%d", d2.ID), s.AdminToken, nil, nil)
		if out, err := gitTry(t, work, "clone", cred(d2.Username, d2.Token, "tanuki/awesome_project"), filepath.Join(t.TempDir(), "x")); err == nil {
			t.Fatalf("cloned after revocation: %s", out)
		}
	})
	t.Run("4 read_registry-only token cannot clone", func(t *testing.T) {
		r := s.deployToken(t, s.AdminToken, "tanuki/awesome_project", map[string]any{"name": "images", "scopes": []string{"read_registry"}})
		if out, err := gitTry(t, work, "clone", cred(r.Username, r.Token, "tanuki/awesome_project"), filepath.Join(t.TempDir(), "x")); err == nil {
			t.Fatalf("cloned: %s", out)
		}
	})
	t.Run("5 anonymous: public clones, private does not", func(t *testing.T) {
		gitRun(t, work, "clone", "-q", s.URL+"/tanuki/open.git", filepath.Join(t.TempDir(), "open"))
		out, err := gitTry(t, work, "clone", s.URL+"/tanuki/secret.git", filepath.Join(t.TempDir(), "x"))
		if err == nil {
			t.Fatalf("anonymous private clone: %s", out)
		}
		out, err = gitTry(t, filepath.Join(work, "src"), "push", s.URL+"/tanuki/open.git", "main:anon")
		if err == nil {
			t.Fatalf("anonymous push: %s", out)
		}
	})
	t.Run("members by role: a guest doesn't read private code, a reporter doesn't push", func(t *testing.T) {
		guestID, guest := s.user(t, "guest", "read_repository", "write_repository")
		repID, rep := s.user(t, "reporter", "read_repository", "write_repository")
		s.member(t, "tanuki/secret", guestID, 10)
		s.member(t, "tanuki/secret", repID, 20)
		if out, err := gitTry(t, work, "clone", cred("guest", guest, "tanuki/secret"), filepath.Join(t.TempDir(), "x")); err == nil {
			t.Fatalf("a guest cloned a private project: %s", out)
		}
		gitRun(t, work, "clone", "-q", cred("reporter", rep, "tanuki/secret"), filepath.Join(t.TempDir(), "r"))
		if out, err := gitTry(t, filepath.Join(work, "src"), "push", cred("reporter", rep, "tanuki/secret"), "main:reporter"); err == nil {
			t.Fatalf("a reporter pushed: %s", out)
		}
	})
	t.Run("6 traversal gets 404 and reads nothing outside", func(t *testing.T) {
		planted := "PLANTED-" + d.Username
		os.WriteFile(filepath.Join(filepath.Dir(s.cfg.ReposDir), "config"), []byte(planted), 0o644)
		os.WriteFile(filepath.Join(s.cfg.DataDir, "HEAD"), []byte(planted), 0o644)
		paths := []string{
			"/../config", "/%2e%2e/config", "/tanuki/%2e%2e/%2e%2e/config", "/tanuki/awesome_project.git/config",
			"/tanuki/awesome_project.git/HEAD", "/tanuki/awesome_project.git/objects/info/packs",
			"/tanuki/awesome_project.git/hooks/pre-receive", "/tanuki/awesome_project.git/info/refs",
			"/tanuki/..%2f..%2fx.git/info/refs?service=git-upload-pack", "/tanuki\\awesome_project.git/info/refs?service=git-upload-pack",
			"/tanuki/awesome_project%00.git/info/refs?service=git-upload-pack", "//etc/passwd.git/info/refs?service=git-upload-pack",
			"/tanuki/nothing.git/info/refs?service=git-upload-pack",
		}
		for _, p := range paths {
			status, body := rawGet(t, host, p, d.Username, d.Token)
			if status != 404 && status != 400 {
				t.Errorf("%s: status %d", p, status)
			}
			if strings.Contains(body, planted) || strings.Contains(body, "root:") {
				t.Errorf("%s: leaked a file outside the repositories", p)
			}
		}
	})
}

// rawGet sends path as written, with no client-side cleaning.
func rawGet(t *testing.T, host, path, user, pass string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest("GET", "http://"+host+"/", nil)
	req.SetBasicAuth(user, pass)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", path, host, req.Header.Get("Authorization"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(conn)
	var status int
	fmt.Sscanf(string(b), "HTTP/1.1 %d", &status)
	return status, string(b)
}

// TestFailureLimit: 30 failures from one address, across git and the
// registry token endpoint, ban it; another address is unaffected.
func TestFailureLimit(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "r", "scopes": []string{"read_repository", "read_registry"}})
	from := func(ip string) *http.Client {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	}
	bad, good := from("127.0.0.1"), from("127.0.0.2")
	get := func(c *http.Client, path, user, pass string) *http.Response {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.SetBasicAuth(user, pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	gitPath := "/tanuki/app.git/info/refs?service=git-upload-pack"
	jwtPath := "/jwt/auth?service=container_registry&scope=repository:tanuki/app:pull"
	// A refresh token from before the ban, and the requests that take no
	// password (a refresh grant, the API) from the banned address.
	var offline struct {
		RefreshToken string `json:"refresh_token"`
	}
	req, _ := http.NewRequest("GET", s.URL+jwtPath+"&offline_token=true", nil)
	req.SetBasicAuth(d.Username, d.Token)
	if r := do(t, req); r.Status != 200 || json.Unmarshal(r.Body, &offline) != nil || offline.RefreshToken == "" {
		t.Fatalf("offline login: %d %s", r.Status, r.Body)
	}
	s.remember(offline.RefreshToken)
	refresh := func(c *http.Client) int {
		form := url.Values{"service": {"container_registry"}, "grant_type": {"refresh_token"}, "refresh_token": {offline.RefreshToken}}
		resp, err := c.PostForm(s.URL+"/jwt/auth", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 1; i <= 30; i++ {
		path := gitPath
		if i%2 == 0 {
			path = jwtPath
		}
		if r := get(bad, path, d.Username, "dtd_wrongwrongwrongwrongwrongwrong"); r.StatusCode != 401 {
			t.Fatalf("failure %d answered %d", i, r.StatusCode)
		}
	}
	for _, path := range []string{gitPath, jwtPath} {
		r := get(bad, path, d.Username, d.Token)
		if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("31st request to %s: %d, Retry-After %q", path, r.StatusCode, r.Header.Get("Retry-After"))
		}
	}
	if st := refresh(bad); st != 429 {
		t.Fatalf("a refresh grant from the banned address: %d", st)
	}
	// The API, even with a request it would refuse as malformed (two
	// credentials): a banned address hears that it is banned.
	for _, h := range []http.Header{
		{"Private-Token": {s.AdminToken}},
		{"Private-Token": {s.AdminToken}, "Authorization": {"Bearer " + s.AdminToken}},
	} {
		req, _ := http.NewRequest("GET", s.URL+"/api/v4/user", nil)
		req.Header = h
		resp, err := bad.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("API from the banned address with %d credentials: %d, Retry-After %q", len(h), resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if st := refresh(good); st != 200 {
		t.Fatalf("a refresh grant from another address: %d", st)
	}
	for _, path := range []string{gitPath, jwtPath} {
		if r := get(good, path, d.Username, d.Token); r.StatusCode != 200 {
			t.Fatalf("another address, good credential, %s: %d", path, r.StatusCode)
		}
	}
}

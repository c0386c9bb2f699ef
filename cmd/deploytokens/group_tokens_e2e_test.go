package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// TestGroupDeployTokenEndToEnd is issue 19's group token with the real
// registry, podman and git: a token on corp pulls corp/a/app and clones
// corp/b/lib, pushes only with write_registry, is refused on other/x and
// on corp2/x (beside corp, though its name starts alike), and revoking it
// stops the registry and git at once.
func TestGroupDeployTokenEndToEnd(t *testing.T) {
	e := startRegistryEnv(t, redisConfig(t))
	s := e.s
	_, alice := s.user(t, "alice")
	corp := s.groupAt(t, alice, "corp")
	s.groupAt(t, alice, "corp/a")
	s.groupAt(t, alice, "corp/b")
	devID, err := s.app.store.UserByUsername(t.Context(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"corp/a/app", "corp/b/lib", "other/x", "corp2/x"} {
		s.project(t, s.AdminToken, path, "private")
		s.member(t, path, devID.ID, 30)
	}
	for _, img := range []string{"corp/a/app:v1", "corp/b/lib:v1", "other/x:v1", "corp2/x:v1"} {
		if _, err := testenv.PushRandomImage(t, e.ref(img), "dev", e.dev); err != nil {
			t.Fatalf("developer push %s: %v\nregistry log:\n%s", img, err, e.reg.Log())
		}
	}
	host := strings.TrimPrefix(s.URL, "http://")
	cred := func(user, pass, path string) string {
		return fmt.Sprintf("http://%s:%s@%s/%s.git", user, pass, host, path)
	}
	work := t.TempDir()
	gitRun(t, work, "init", "-q", "-b", "main", "src")
	src := filepath.Join(work, "src")
	os.WriteFile(filepath.Join(src, "file"), []byte("lib"), 0o644)
	gitRun(t, src, "add", ".")
	gitRun(t, src, "commit", "-q", "-m", "lib")
	for _, path := range []string{"corp/b/lib", "other/x", "corp2/x"} {
		gitRun(t, src, "push", "-q", cred("dev", e.dev, path), "main")
	}

	read := s.groupDeployToken(t, alice, "corp", map[string]any{"name": "cluster", "scopes": []string{"read_registry", "read_repository"}})
	write := s.groupDeployToken(t, alice, fmt.Sprint(corp.ID), map[string]any{"name": "builder", "scopes": []string{"read_registry", "write_registry"}})
	podman := testenv.Podman(t)
	if err := podman.Login(e.reg.Host(), read.Username, read.Token); err != nil {
		t.Fatalf("podman login with the group token: %v", err)
	}

	t.Run("pulls every project in the subtree", func(t *testing.T) {
		for _, img := range []string{"corp/a/app:v1", "corp/b/lib:v1"} {
			if err := podman.Pull(e.ref(img)); err != nil {
				t.Errorf("podman pull %s: %v", img, err)
			}
		}
	})
	t.Run("clones a project in the subtree", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "lib")
		gitRun(t, work, "clone", "-q", cred(read.Username, read.Token, "corp/b/lib"), dst)
		if b, err := os.ReadFile(filepath.Join(dst, "file")); err != nil || string(b) != "lib" {
			t.Fatalf("cloned file %q, %v", b, err)
		}
	})
	t.Run("refused outside the subtree", func(t *testing.T) {
		for _, img := range []string{"other/x:v1", "corp2/x:v1"} {
			if err := podman.Pull(e.ref(img)); err == nil {
				t.Errorf("podman pulled %s with corp's token", img)
			}
		}
		for _, path := range []string{"other/x", "corp2/x"} {
			if out, err := gitTry(t, work, "clone", "-q", cred(read.Username, read.Token, path), filepath.Join(t.TempDir(), "x")); err == nil {
				t.Errorf("cloned %s with corp's token: %s", path, out)
			}
		}
	})
	t.Run("pushes only with write_registry", func(t *testing.T) {
		if _, err := testenv.PushRandomImage(t, e.ref("corp/a/app:evil"), read.Username, read.Token); err == nil {
			t.Error("read_registry group token pushed")
		}
		if _, err := testenv.PushRandomImage(t, e.ref("corp/a/app:built"), write.Username, write.Token); err != nil {
			t.Errorf("write_registry group token push: %v", err)
		}
		if _, err := testenv.PushRandomImage(t, e.ref("corp/b/lib/cache:built"), write.Username, write.Token); err != nil {
			t.Errorf("write_registry group token push below a project: %v", err)
		}
		if _, err := testenv.PushRandomImage(t, e.ref("other/x:evil"), write.Username, write.Token); err == nil {
			t.Error("corp's token pushed to other/x")
		}
	})
	t.Run("never pushes git", func(t *testing.T) {
		if out, err := gitTry(t, src, "push", "-q", cred(read.Username, read.Token, "corp/b/lib"), "main:evil"); err == nil {
			t.Errorf("group token pushed git: %s", out)
		}
	})
	t.Run("revoking stops registry and git at once", func(t *testing.T) {
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/groups/corp/deploy_tokens/%d", read.ID), alice, nil, nil)
		if err := podman.Pull(e.ref("corp/a/app:v1")); err == nil {
			t.Error("podman pulled with a revoked group token")
		}
		if out, err := gitTry(t, work, "clone", "-q", cred(read.Username, read.Token, "corp/b/lib"), filepath.Join(t.TempDir(), "after")); err == nil {
			t.Errorf("cloned with a revoked group token: %s", out)
		}
	})
}

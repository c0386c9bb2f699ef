package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// buildTimeout bounds deploy/image.sh: a cold build makes a Debian root
// filesystem per image (about a minute each on a loaded machine); a cached
// one answers in a second.
const buildTimeout = 10 * time.Minute

// needPodman skips a test that runs containers where podman is not
// installed (make test-deps installs it, with mmdebstrap and runc).
func needPodman(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range append([]string{"podman"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make test-deps installs it): the image is not tested", tool)
		}
	}
}

// loadImages builds the named images with deploy/image.sh (cached in
// bin/image) and loads them into p's isolated storage.
func loadImages(t *testing.T, p *testenv.PodmanClient, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "./image.sh", names...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("deploy/image.sh %s: %v\n%s", strings.Join(names, " "), err, out.String())
	}
	t.Logf("%s", strings.TrimSpace(out.String()))
	for _, name := range names {
		archive, err := filepath.Abs(filepath.Join("..", "bin", "image", name+".tar"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Run("load", "--quiet", "-i", archive); err != nil {
			t.Fatal(err)
		}
	}
}

// waitHealthy waits until url answers 200, for at most limit.
func waitHealthy(t *testing.T, url string, limit time.Duration, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %s (last: %v)\n%s", url, limit, err, logs())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// api calls deploytokens' REST API at base with a PRIVATE-TOKEN and a JSON
// body, fails the test unless it answers want, and decodes the answer
// into out.
func api(t *testing.T, base, method, path, token string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+"/api/v4"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("PRIVATE-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// git runs git in dir with no user or system configuration and no prompt.
func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir(),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", args[0], err, out)
	}
}

// seedFlows is the seed's walk against a running stack: the admin makes a
// project and pushes content to it, makes a deploy token, and the token
// clones the repository; an image pushed with a write token is pulled
// with podman through registryHost, whose realm is base's /jwt/auth.
func seedFlows(t *testing.T, base, admin, registryHost string, p *testenv.PodmanClient) {
	t.Helper()
	var proj struct {
		ID                int64  `json:"id"`
		PathWithNamespace string `json:"path_with_namespace"`
	}
	api(t, base, "POST", "/projects", admin, map[string]any{"path": "awesome_project", "namespace_path": "tanuki"}, 201, &proj)
	type token struct {
		Username string `json:"username"`
		Token    string `json:"token"`
	}
	var reader, writer token
	api(t, base, "POST", "/projects/tanuki%2Fawesome_project/deploy_tokens", admin,
		map[string]any{"name": "deployer", "scopes": []string{"read_repository", "read_registry"}}, 201, &reader)
	api(t, base, "POST", "/projects/tanuki%2Fawesome_project/deploy_tokens", admin,
		map[string]any{"name": "ci", "scopes": []string{"write_registry"}}, 201, &writer)

	host := strings.TrimPrefix(base, "http://")
	t.Run("git clone with the deploy token", func(t *testing.T) {
		work := t.TempDir()
		git(t, work, "init", "-q", "-b", "main", "src")
		src := filepath.Join(work, "src")
		if err := os.WriteFile(filepath.Join(src, "README"), []byte("awesome\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, src, "add", ".")
		git(t, src, "commit", "-q", "-m", "first")
		git(t, src, "push", "-q", fmt.Sprintf("http://root:%s@%s/tanuki/awesome_project.git", admin, host), "main")
		git(t, work, "clone", "-q", fmt.Sprintf("http://%s:%s@%s/tanuki/awesome_project.git", reader.Username, reader.Token, host), "dst")
		got, err := os.ReadFile(filepath.Join(work, "dst", "README"))
		if err != nil || string(got) != "awesome\n" {
			t.Fatalf("cloned README = %q, %v; want the pushed content", got, err)
		}
	})
	t.Run("podman login and pull through the registry", func(t *testing.T) {
		ref := registryHost + "/tanuki/awesome_project/app:1"
		if _, err := testenv.PushRandomImage(t, ref, writer.Username, writer.Token); err != nil {
			t.Fatalf("push with the write token: %v", err)
		}
		if err := p.Login(registryHost, reader.Username, reader.Token); err != nil {
			t.Fatal(err)
		}
		if err := p.Pull(ref); err != nil {
			t.Fatal(err)
		}
		if err := p.Push(ref, registryHost+"/tanuki/awesome_project/app:2"); err == nil {
			t.Error("a read_registry token pushed an image")
		}
	})
}

// podmanAfter runs podman as p does, for cleanups: the test's own context,
// which p's commands use, is already canceled when they run.
func podmanAfter(t *testing.T, p *testenv.PodmanClient, args ...string) string {
	env, command := p.Shell()
	words := strings.Fields(command)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, words[0], append(words[1:], args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// TestCIDeployToken: a CI-like script gets the variables with ci-env, logs
// in and pulls with podman against the real registry, and clones with git.
func TestCIDeployToken(t *testing.T) {
	regPort := testenv.FreePort(t)
	e := startRegistryEnvAt(t, regPort)
	s := e.s
	// Write a commit the CI job will clone.
	work := t.TempDir()
	gitRun(t, work, "clone", fmt.Sprintf("http://dev:%s@%s/tanuki/app.git", e.dev, s.Host), "src")
	os.WriteFile(filepath.Join(work, "src", "README"), []byte("hello\n"), 0o644)
	gitRun(t, filepath.Join(work, "src"), "add", ".")
	gitRun(t, filepath.Join(work, "src"), "commit", "-m", "first")
	gitRun(t, filepath.Join(work, "src"), "push", "origin", "HEAD:main")

	ci := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "gitlab-deploy-token", "scopes": []string{"read_repository"}})
	// The password needs api (issue 20): read_api only looks.
	_, bot := s.user(t, "cibot", "api")
	s.member(t, "tanuki/app", mustID(t, s, "cibot"), 30)
	s.remember(bot)

	podman := testenv.Podman(t)
	env, podmanCmd := podman.Shell()
	script := func() (string, string, error) {
		cmd := exec.Command("sh", "-ec", `
eval "$(`+binary(t)+` ci-env --url "$SERVER" --project tanuki/app)"
[ -n "$CI_DEPLOY_USER" ] || { echo "no CI_DEPLOY_USER" >&2; exit 3; }
`+podmanCmd+` login --tls-verify=false -u "$CI_DEPLOY_USER" -p "$CI_DEPLOY_PASSWORD" "$CI_REGISTRY"
`+podmanCmd+` pull --tls-verify=false "$CI_REGISTRY_IMAGE:v1"
git clone -q "http://$CI_DEPLOY_USER:$CI_DEPLOY_PASSWORD@${SERVER#http://}/$CI_PROJECT_PATH.git" "$WORK/ci-clone"
cat "$WORK/ci-clone/README"
`)
		cmd.Env = append(env, "SERVER=http://"+s.Host, "DEPLOYTOKENS_TOKEN="+bot, "WORK="+t.TempDir(), "PATH="+os.Getenv("PATH"))
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	out, errOut, err := script()
	if err != nil || !strings.Contains(out, "hello") {
		t.Fatalf("CI job failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}

	// Revoked: no deploy variables, a warning, and the old password is dead.
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", ci.ID), s.AdminToken, nil, nil)
	var stdout, stderr strings.Builder
	code := run(t.Context(), []string{"ci-env", "--url", s.URL, "--project", "tanuki/app"},
		func(k string) string { return map[string]string{"DEPLOYTOKENS_TOKEN": bot}[k] }, &stdout, &stderr)
	if code != 0 || strings.Contains(stdout.String(), "CI_DEPLOY") || !strings.Contains(stderr.String(), "revoked") ||
		!strings.Contains(stdout.String(), "export CI_REGISTRY='"+s.cfg.RegistryHost+"'") {
		t.Fatalf("after revoke: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if err := testenv.Podman(t).Login(e.reg.Host(), ci.Username, ci.Token); err == nil {
		t.Fatal("the revoked CI password still logs in")
	}

	// A reporter may not read the variables.
	repID, rep := s.user(t, "reporter")
	s.member(t, "tanuki/app", repID, 20)
	if r := s.api(t, "GET", "/projects/tanuki%2Fapp/ci/variables", rep, nil); r.Status != 403 {
		t.Fatalf("reporter: %d %s", r.Status, r.Body)
	}
	stdout.Reset()
	stderr.Reset()
	code = run(t.Context(), []string{"ci-env", "--url", s.URL, "--project", "tanuki/app"},
		func(k string) string { return map[string]string{"DEPLOYTOKENS_TOKEN": rep}[k] }, &stdout, &stderr)
	if code == 0 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "developer role") {
		t.Fatalf("ci-env as a reporter: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	r := s.api(t, "GET", "/projects/tanuki%2Fapp/ci/variables?format=yaml", s.AdminToken, nil)
	if r.Status != 400 || !strings.Contains(r.message(), "format") {
		t.Fatalf("bad format: %d %s", r.Status, r.Body)
	}
}

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

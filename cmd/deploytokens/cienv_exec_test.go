package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCIPatternStopsOnFailure: the README's two CI patterns, run by bash
// under set -e with the built binary. With a bad PAT the job's next line
// never runs; with a good one it runs with the variables set. The pattern
// the README used before, eval "$(...)", is shown to go on regardless.
func TestCIPatternStopsOnFailure(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "gitlab-deploy-token", "scopes": []string{"read_registry"}})
	botID, bot := s.user(t, "cibot", "api")
	s.member(t, "tanuki/app", botID, 30)
	s.remember(bot)
	bin := binary(t)

	scripts := map[string]string{
		"assignment then eval": `vars=$("$DT" ci-env --project tanuki/app)
eval "$vars"
echo "next line ran as $CI_DEPLOY_USER" > "$MARK"`,
		"exec": `"$DT" ci-env --project tanuki/app --exec -- sh -c 'echo "next line ran as $CI_DEPLOY_USER" > "$MARK"'
echo "after exec" >> "$MARK"`,
		"eval of a substitution (hides the failure)": `eval "$("$DT" ci-env --project tanuki/app)"
echo "next line ran as $CI_DEPLOY_USER" > "$MARK"`,
	}
	tests := []struct {
		name, script, token string
		wantRan             bool
	}{
		{"assignment, good PAT", scripts["assignment then eval"], bot, true},
		{"assignment, bad PAT", scripts["assignment then eval"], "dtp_" + strings.Repeat("x", 20), false},
		{"exec, good PAT", scripts["exec"], bot, true},
		{"exec, bad PAT", scripts["exec"], "dtp_" + strings.Repeat("x", 20), false},
		{"exec, no PAT", scripts["exec"], "", false},
		{"eval of a substitution, bad PAT", scripts["eval of a substitution (hides the failure)"], "dtp_" + strings.Repeat("x", 20), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := filepath.Join(t.TempDir(), "mark")
			cmd := exec.Command("bash", "-c", "set -e\n"+tt.script)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DT=" + bin, "MARK=" + mark,
				"DEPLOYTOKENS_URL=" + s.URL, "DEPLOYTOKENS_TOKEN=" + tt.token}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			got, _ := os.ReadFile(mark)
			ran := len(got) > 0
			if ran != tt.wantRan {
				t.Fatalf("next line ran: %v, want %v (exit %v)\n%s", ran, tt.wantRan, err, out.String())
			}
			if tt.wantRan && tt.token == bot && !strings.Contains(string(got), "next line ran as gitlab+deploy-token-") {
				t.Errorf("the next line ran without the variables: %q", got)
			}
			if strings.HasPrefix(tt.name, "exec") && tt.wantRan && !strings.Contains(string(got), "after exec") {
				t.Errorf("the line after a successful --exec did not run: %q", got)
			}
			if !tt.wantRan && err == nil {
				t.Errorf("the job exited 0")
			}
		})
	}
}

// TestCIEnvExecStatus: --exec ends with the command's exit status, and
// with 127 when the command cannot be started.
func TestCIEnvExecStatus(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	env := func(k string) string { return map[string]string{"DEPLOYTOKENS_TOKEN": s.AdminToken}[k] }
	tests := []struct {
		name    string
		command []string
		want    int
	}{
		{"success", []string{"true"}, 0},
		{"the command's own status", []string{"sh", "-c", "exit 7"}, 7},
		{"the variables are set", []string{"sh", "-c", `[ "$CI_PROJECT_PATH" = tanuki/app ]`}, 0},
		{"killed by a signal", []string{"sh", "-c", "kill -TERM $$"}, 128 + 15},
		{"no such command", []string{"/nonexistent/command"}, 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"ci-env", "--url", s.URL, "--project", "tanuki/app", "--exec", "--"}, tt.command...)
			if code := run(t.Context(), args, env, &out, &errb); code != tt.want {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.want, out.String(), errb.String())
			}
			if strings.Contains(out.String(), "export ") {
				t.Errorf("--exec printed the variables: %s", out.String())
			}
		})
	}
}

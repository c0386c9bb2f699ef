package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// walkthroughMarker introduces a README code block that the walkthrough
// test runs. An HTML comment, so GitHub shows nothing of it.
const walkthroughMarker = "<!-- walkthrough -->"

// walkthroughBlocks answers, in order, the shell blocks of the README that
// follow a walkthrough marker.
func walkthroughBlocks(readme string) ([]string, error) {
	var blocks []string
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != walkthroughMarker {
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```sh") {
			return nil, fmt.Errorf("README line %d: %s is not followed by a ```sh block", i+1, walkthroughMarker)
		}
		var b strings.Builder
		j := i + 2
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "```"); j++ {
			b.WriteString(lines[j] + "\n")
		}
		if j == len(lines) {
			return nil, fmt.Errorf("README line %d: the block never ends", i+2)
		}
		blocks = append(blocks, b.String())
		i = j
	}
	return blocks, nil
}

// TestREADMEWalkthrough pastes the README's walkthrough into bash, block by
// block in order, against a server and registry started by scripts/run.sh
// as `make run` starts them. The only edits are the ports: the README's
// localhost:8080 and localhost:5000 become free ones. So a README that
// drifts from the product fails here.
func TestREADMEWalkthrough(t *testing.T) {
	for _, bin := range []string{"bash", "curl", "jq", "git", "podman"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("the walkthrough needs %s (make test-deps installs it): %v", bin, err)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := walkthroughBlocks(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 5 {
		t.Fatalf("found %d walkthrough blocks in the README; the markers are gone?", len(blocks))
	}

	// A checkout as make run sees it: bin/deploytokens, bin/tools/registry,
	// scripts/run.sh, and the data directory it creates.
	root := t.TempDir()
	for dst, src := range map[string]string{
		"bin/deploytokens":   binary(t),
		"bin/tools/registry": testenv.Tool(t, "registry"),
		"scripts/run.sh":     mustAbs(t, "../../scripts/run.sh"),
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(dst)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, filepath.Join(root, dst)); err != nil {
			t.Fatal(err)
		}
	}
	port, registryPort := testenv.FreePort(t), testenv.FreePort(t)

	// podman with state private to the test, under the plain name the
	// README uses.
	podmanEnv, podmanCmd := testenv.Podman(t).Shell()
	wrap := filepath.Join(root, "wrap")
	if err := os.Mkdir(wrap, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wrap, "podman"), []byte("#!/bin/sh\nexec "+podmanCmd+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(root, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := append(podmanEnv,
		"PATH="+wrap+":"+os.Getenv("PATH"),
		"HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
	)

	run := exec.Command("bash", "scripts/run.sh")
	run.Dir = root
	run.Env = append(os.Environ(),
		"DEPLOYTOKENS_LISTEN=127.0.0.1:"+strconv.Itoa(port),
		"RUN_REGISTRY_ADDR=127.0.0.1:"+strconv.Itoa(registryPort),
	)
	logs := &testenv.LogBuffer{}
	run.Stdout, run.Stderr = logs, logs
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when run.sh ends, runErr then holding its status.
	exited := make(chan struct{})
	var runErr error
	go func() { runErr = run.Wait(); close(exited) }()
	t.Cleanup(func() {
		// Ctrl-C, as a user stops make run.
		_ = syscall.Kill(-run.Process.Pid, syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	waitForBanner(t, logs, exited, &runErr)

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, b := range blocks {
		b = strings.ReplaceAll(b, "localhost:8080", "localhost:"+strconv.Itoa(port))
		b = strings.ReplaceAll(b, "localhost:5000", "localhost:"+strconv.Itoa(registryPort))
		fmt.Fprintf(&script, "echo '--- walkthrough block %d'\n%s", i+1, b)
	}
	script.WriteString("echo '--- walkthrough done'\n")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", script.String())
	sh.Dir = root
	sh.Env = env
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the README walkthrough failed: %v\n%s\n--- make run's output:\n%s", err, out, logs.String())
	}
	t.Logf("walkthrough output:\n%s", out)
	for _, want := range []string{
		"# Awesome project",                   // the deploy token's clone has the pushed commit
		`"event_name":"deploy_token_rotated"`, // the audit trail saw the rotation
		`"event_name":"deploy_token_revoked"`, // and the revocation
		"--- walkthrough done",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the walkthrough's output lacks %q:\n%s", want, out)
		}
	}
	// Revoking the rotated token refused both of its secrets.
	if n := strings.Count(string(out), "refused, as it should be"); n != 2 {
		t.Errorf("%d refused secrets after the revocation, want 2:\n%s", n, out)
	}
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// waitForBanner waits until run.sh prints the lines that say both servers
// answer, or fails with its output when it exits first.
func waitForBanner(t *testing.T, logs *testenv.LogBuffer, exited <-chan struct{}, runErr *error) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "registry:") {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("make run's script exited (%v) before it was up:\n%s", *runErr, logs.String())
		case <-deadline:
			t.Fatalf("make run's script was not up within 2 minutes:\n%s", logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

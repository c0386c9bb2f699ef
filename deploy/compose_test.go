package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// composeTimeout bounds podman-compose up or down: four containers
// created and started one after another.
const composeTimeout = 3 * time.Minute

// TestCompose brings the compose stack up with podman-compose on loopback
// ports, checks its wiring (Redis durable, the registry trusting
// deploytokens' keys) by walking the seed's flows through the stack's own
// registry, and brings it down.
func TestCompose(t *testing.T) {
	needPodman(t, "mmdebstrap", "podman-compose")
	testenv.Tool(t, "registry") // the binary the registry image copies
	p := testenv.Podman(t).ForContainers()
	loadImages(t, p, "deploytokens", "registry", "redis")

	port, regPort := testenv.FreePort(t), testenv.FreePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	admin, _ := tokens.Generate(tokens.PATSecret)
	project := "dtcompose" + randomSuffix(t)
	penv, _ := p.Shell()
	env := append(penv,
		fmt.Sprintf("DEPLOYTOKENS_PORT=%d", port), fmt.Sprintf("REGISTRY_PORT=%d", regPort),
		"DEPLOYTOKENS_URL="+base, fmt.Sprintf("REGISTRY_HOST_NAME=localhost:%d", regPort),
		"DEPLOYTOKENS_ADMIN_TOKEN="+admin.Reveal())
	compose := func(ctx context.Context, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, composeTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "podman-compose", append([]string{"-p", project, "-f", "compose.yaml"}, args...)...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	logs := func() string {
		var b strings.Builder
		for _, svc := range []string{"deploytokens", "jwks", "registry", "redis"} {
			fmt.Fprintf(&b, "--- %s:\n%s", svc, podmanAfter(t, p, "logs", "--tail", "20", project+"_"+svc+"_1"))
		}
		return b.String()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack logs:\n%s", logs())
		}
		if out, err := compose(context.Background(), "down", "--volumes"); err != nil {
			t.Errorf("podman-compose down: %v\n%s", err, out)
		}
		podmanAfter(t, p, "network", "rm", "--force", project+"_default")
		// CNI's address bookkeeping outlives the network it was for.
		os.RemoveAll(filepath.Join("/var/lib/cni/networks", project+"_default"))
	})
	start := time.Now()
	if out, err := compose(t.Context(), "up", "--detach"); err != nil {
		t.Fatalf("podman-compose up: %v\n%s", err, out)
	}
	t.Logf("podman-compose up returned after %s", time.Since(start).Round(time.Millisecond))
	waitHealthy(t, fmt.Sprintf("http://127.0.0.1:%d/-/health", port), time.Minute, logs)
	waitRegistry(t, fmt.Sprintf("http://127.0.0.1:%d/v2/", regPort), base+"/jwt/auth", time.Minute, logs)
	t.Logf("stack answering %s after podman-compose up", time.Since(start).Round(time.Millisecond))

	t.Run("redis writes durably", func(t *testing.T) {
		for _, kv := range [][2]string{{"appendonly", "yes"}, {"appendfsync", "always"}} {
			out, err := p.Run("exec", project+"_redis_1", "redis-cli", "config", "get", kv[0])
			if err != nil {
				t.Fatal(err)
			}
			if f := strings.Fields(out); len(f) != 2 || f[1] != kv[1] {
				t.Errorf("redis %s = %q, want %s", kv[0], out, kv[1])
			}
		}
	})
	t.Run("deploytokens keeps its tokens in the stack's redis", func(t *testing.T) {
		out, err := p.Run("exec", project+"_redis_1", "redis-cli", "--scan", "--pattern", "deploytokens:*")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "deploytokens:") {
			t.Errorf("no deploytokens key in redis: %q", out)
		}
	})
	seedFlows(t, base, admin.Reveal(), fmt.Sprintf("localhost:%d", regPort), p)
}

// waitRegistry waits until the registry at url challenges for a token from
// realm: it has started, with the keys the one-shot exported.
func waitRegistry(t *testing.T, url, realm string, limit time.Duration, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			last = resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode == http.StatusUnauthorized && strings.Contains(last, `realm="`+realm+`"`) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry at %s did not challenge for %s within %s (last: %q, %v)\n%s", url, realm, limit, last, err, logs())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// TestImage builds the image (cached), runs it with podman on a loopback
// port, checks what the image promises (non-root, a data volume, a health
// check that passes) and walks the seed's flows against it with a real
// registry whose realm is the container.
func TestImage(t *testing.T) {
	needPodman(t, "mmdebstrap")
	p := testenv.Podman(t).ForContainers()
	loadImages(t, p, "deploytokens")

	port, regPort := testenv.FreePort(t), testenv.FreePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	admin, _ := tokens.Generate(tokens.PATSecret)
	// The admin token through a file, not podman's command line.
	envFile := filepath.Join(t.TempDir(), "env")
	env := fmt.Sprintf("DEPLOYTOKENS_ADMIN_TOKEN=%s\nDEPLOYTOKENS_EXTERNAL_URL=%s\nDEPLOYTOKENS_REGISTRY_HOST=localhost:%d\n",
		admin.Reveal(), base, regPort)
	if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	name := "dt-image-" + randomSuffix(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("container log:\n%s", podmanAfter(t, p, "logs", "--tail", "40", name))
		}
		podmanAfter(t, p, "rm", "--force", "--time", "5", name)
	})
	start := time.Now()
	if _, err := p.Run("run", "--detach", "--name", name, "--env-file", envFile,
		"--publish", fmt.Sprintf("127.0.0.1:%d:8080", port), "localhost/deploytokens:latest"); err != nil {
		t.Fatal(err)
	}
	logs := func() string { out, _ := p.Run("logs", "--tail", "40", name); return out }
	waitHealthy(t, fmt.Sprintf("http://127.0.0.1:%d/-/health", port), time.Minute, logs)
	t.Logf("container healthy %s after podman run", time.Since(start).Round(time.Millisecond))

	t.Run("the image's promises", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want string
		}{
			{name: "runs as the non-root user 10001", args: []string{"exec", name, "id", "-u"}, want: `^10001\n$`},
			{name: "health check passes", args: []string{"healthcheck", "run", name}, want: `^$`},
			{name: "data in a volume", args: []string{"inspect", "--format", "{{range .Mounts}}{{.Destination}} {{end}}", name}, want: `/var/lib/deploytokens`},
			{name: "health check declared", args: []string{"image", "inspect", "--format", "{{json .Config.Healthcheck}}", "localhost/deploytokens:latest"}, want: `"Test":\["CMD","deploytokens","health"\]`},
			{name: "the version stamped", args: []string{"image", "inspect", "--format", `{{index .Labels "org.opencontainers.image.version"}}`, "localhost/deploytokens:latest"}, want: `^[\w.-]+\n$`},
			{name: "git for the repositories", args: []string{"exec", name, "git", "--version"}, want: `^git version`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, err := p.Run(tt.args...)
				if err != nil {
					t.Fatal(err)
				}
				if !regexp.MustCompile(tt.want).MatchString(out) {
					t.Errorf("podman %s = %q, want a match of %s", strings.Join(tt.args, " "), out, tt.want)
				}
			})
		}
	})

	// The registry reads the container's keys at start, as an operator's
	// would: exported from the running server.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/-/jwks", port))
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o644); err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, testenv.RegistryConfig{
		Realm: base + "/jwt/auth", Service: "container_registry", Issuer: "deploytokens",
		Port: regPort, JWKSFile: jwksFile,
	})
	seedFlows(t, base, admin.Reveal(), reg.Host(), p)
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

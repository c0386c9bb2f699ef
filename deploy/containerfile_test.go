package deploy

import (
	"os"
	"strings"
	"testing"
)

// TestContainerfilesAgree keeps the Docker Hub recipe and the offline one
// describing the same image: what follows the marker line (environment,
// user, volume, port, health check, entry point) is the same in both.
func TestContainerfilesAgree(t *testing.T) {
	const marker = "# -- the settings below are the same in "
	settings := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, after, ok := strings.Cut(string(b), marker)
		if !ok {
			t.Fatalf("%s: no line %q", path, marker)
		}
		_, rest, _ := strings.Cut(after, "\n") // the rest of the marker line names the other file
		return rest
	}
	tests := []struct{ name, a, b string }{
		{name: "deploytokens", a: "Containerfile", b: "local/deploytokens.Containerfile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, b := settings(tt.a), settings(tt.b); a != b {
				t.Errorf("%s and %s set different image settings:\n%s\n---\n%s", tt.a, tt.b, a, b)
			}
			if !strings.Contains(settings(tt.a), "HEALTHCHECK") || !strings.Contains(settings(tt.a), "USER 10001") {
				t.Errorf("%s: the settings lack the health check or the non-root user", tt.a)
			}
		})
	}
}

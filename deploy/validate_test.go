package deploy_test

import (
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/deploy"
	"github.com/deploytokens/deploytokens/deploy/githttp"
)

// FuzzProjectPath checks that every project path the API accepts also has a
// repository (githttp accepts it), and that its page is not a git route.
// A disagreement is a 500 when the repository is created.
func FuzzProjectPath(f *testing.F) {
	for _, s := range []string{
		"tanuki/app", "tanuki/x..y", "a..b/app", "g/sub/git-upload-pack", "g/git-receive-pack",
		"g/info", "g/refs", "g/h/info/refs", "g/h/INFO/Refs", "g/info/refs", "g/app.git", "g/a.b_c-d", "G/APP", "g/" + strings.Repeat("x", 251),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if !strings.Contains(path, "/") || deploy.ValidateProjectPath("path", path) != nil {
			return
		}
		if err := githttp.ValidProjectPath(path); err != nil {
			t.Fatalf("the API accepts %q but git refuses it: %v", path, err)
		}
		if _, route, ok := githttp.ParsePath("/" + path); ok {
			t.Fatalf("the page of %q is git's %s route", path, route)
		}
	})
}

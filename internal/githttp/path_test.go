package githttp

import (
	"errors"
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

func TestParsePath(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 256)
	deep := strings.Repeat("/g", 21) + "/p.git/info/refs"
	tests := []struct {
		name    string
		path    string
		project string
		route   string
		ok      bool
	}{
		{name: "info refs", path: "/tanuki/awesome_project.git/info/refs", project: "tanuki/awesome_project", route: "info/refs", ok: true},
		{name: "upload pack", path: "/tanuki/awesome_project.git/git-upload-pack", project: "tanuki/awesome_project", route: "git-upload-pack", ok: true},
		{name: "receive pack", path: "/tanuki/awesome_project.git/git-receive-pack", project: "tanuki/awesome_project", route: "git-receive-pack", ok: true},
		{name: "without .git", path: "/tanuki/awesome_project/info/refs", project: "tanuki/awesome_project", route: "info/refs", ok: true},
		{name: "nested groups", path: "/a/b/c/d.git/info/refs", project: "a/b/c/d", route: "info/refs", ok: true},
		{name: "group named like a route", path: "/info/refs/info/refs", project: "info/refs", route: "info/refs", ok: true},
		{name: "dots and dashes inside", path: "/my-group/my.project_1.git/info/refs", project: "my-group/my.project_1", route: "info/refs", ok: true},
		// The domain's limit: a segment leaves room for ".git" in a 255-byte file name.
		{name: "251 character segment", path: "/g/" + long[:251] + "/info/refs", project: "g/" + long[:251], route: "info/refs", ok: true},
		{name: "252 character segment", path: "/g/" + long[:252] + "/info/refs"},
		{name: "reserved first segment", path: "/api/p.git/info/refs"},

		{name: "empty", path: ""},
		{name: "root", path: "/"},
		{name: "no namespace", path: "/project.git/info/refs"},
		{name: "no leading slash", path: "g/p.git/info/refs"},
		{name: "dumb config", path: "/g/p.git/config"},
		{name: "dumb HEAD", path: "/g/p.git/HEAD"},
		{name: "objects", path: "/g/p.git/objects/info/packs"},
		{name: "hooks", path: "/g/p.git/hooks/pre-receive"},
		{name: "info refs with trailing slash", path: "/g/p.git/info/refs/"},
		{name: "dot dot", path: "/../x/info/refs"},
		{name: "dot dot inside", path: "/a/../b.git/info/refs"},
		{name: "dot dot in segment", path: "/a/b..c.git/info/refs"},
		{name: "encoded dot dot", path: "/%2e%2e/secret/info/refs"},
		{name: "encoded slash", path: "/a/..%2fb.git/info/refs"},
		{name: "double slash", path: "//g/p.git/info/refs"},
		{name: "inner double slash", path: "/g//p.git/info/refs"},
		{name: "backslash", path: `/a\b.git/info/refs`},
		{name: "nul", path: "/g/p\x00.git/info/refs"},
		{name: "control char", path: "/g/p\x01.git/info/refs"},
		{name: "space", path: "/g/p q.git/info/refs"},
		{name: "unicode", path: "/g/pé.git/info/refs"},
		{name: "leading dot segment", path: "/g/.p.git/info/refs"},
		{name: "dot segment", path: "/g/./p.git/info/refs"},
		{name: "leading dash segment", path: "/g/-p.git/info/refs"},
		{name: "bare .git", path: "/g/.git/info/refs"},
		{name: "double .git", path: "/g/p.git.git/info/refs"},
		{name: "group ending in .git", path: "/g.git/p.git/info/refs"},
		{name: "upper case .GIT", path: "/g/p.GIT.git/info/refs"},
		{name: "ending in .atom", path: "/g/p.atom/info/refs"},
		{name: "256 character segment", path: "/g/" + long + "/info/refs"},
		{name: "too deep", path: deep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			project, route, ok := ParsePath(tt.path)
			if ok != tt.ok || project != tt.project || route != tt.route {
				t.Errorf("ParsePath(%q) = %q, %q, %v; want %q, %q, %v", tt.path, project, route, ok, tt.project, tt.route, tt.ok)
			}
		})
	}
}

func TestValidProjectPathError(t *testing.T) {
	if err := ValidProjectPath("g/../p"); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("ValidProjectPath(g/../p) = %v, want ErrInvalidPath", err)
	}
	if err := ValidProjectPath("g/sub/p"); err != nil {
		t.Errorf("ValidProjectPath(g/sub/p) = %v, want nil", err)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/tanuki/awesome_project.git/info/refs",
		"/a/b/c/d/git-upload-pack",
		"/g/p.git/git-receive-pack",
		"/../x/info/refs",
		"/%2e%2e/secret/info/refs",
		"/a/..%2fb.git/info/refs",
		`/a\b.git/info/refs`,
		"/g/p\x00.git/info/refs",
		"//g/p.git/info/refs",
		"/g/.git/info/refs",
		"/g/p.git.git/info/refs",
		"/g/p..git/info/refs",
		"/info/refs/info/refs",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		project, route, ok := ParsePath(in)
		if !ok {
			if project != "" || route != "" {
				t.Fatalf("ParsePath(%q) rejected but returned %q, %q", in, project, route)
			}
			return
		}
		for _, bad := range []string{"..", `\`, "\x00", "//"} {
			if strings.Contains(project, bad) {
				t.Fatalf("ParsePath(%q) accepted project %q containing %q", in, project, bad)
			}
		}
		if strings.HasPrefix(project, "/") || strings.HasPrefix(project, ".") || strings.HasSuffix(project, "/") {
			t.Fatalf("ParsePath(%q) accepted project %q", in, project)
		}
		if err := ValidProjectPath(project); err != nil {
			t.Fatalf("ParsePath(%q) accepted project %q that ValidProjectPath rejects: %v", in, project, err)
		}
		if want := "/" + project + "/" + route; in != want && in != "/"+project+".git/"+route {
			t.Fatalf("ParsePath(%q) = %q, %q does not rebuild the input", in, project, route)
		}
	})
}

// FuzzProjectPath checks that every project path the domain accepts also
// has a repository (githttp accepts it), and that its page is not a git
// route. (It lived in package tokens, which must not import a surface.)
// A disagreement is a 500 when the repository is created.
func FuzzProjectPath(f *testing.F) {
	for _, s := range []string{
		"tanuki/app", "tanuki/x..y", "a..b/app", "g/sub/git-upload-pack", "g/git-receive-pack",
		"g/info", "g/refs", "g/h/info/refs", "g/h/INFO/Refs", "g/info/refs", "g/app.git", "g/a.b_c-d", "G/APP", "g/" + strings.Repeat("x", 251),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if !strings.Contains(path, "/") || tokens.ValidateProjectPath("path", path) != nil {
			return
		}
		if err := ValidProjectPath(path); err != nil {
			t.Fatalf("the API accepts %q but git refuses it: %v", path, err)
		}
		if _, route, ok := ParsePath("/" + path); ok {
			t.Fatalf("the page of %q is git's %s route", path, route)
		}
	})
}

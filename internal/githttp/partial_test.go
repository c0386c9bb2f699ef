package githttp

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPartialClone: blobless and treeless clones get only what their filter
// asks for, in protocols v0 and v2, and the objects left out are fetched on
// demand when a checkout needs them.
func TestPartialClone(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	env := gitEnv(t)
	if err := ts.repos.Create(t.Context(), project); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	mustGit(t, env, work, "init", "-q", "-b", "main")
	first := commit(t, env, work, "old.txt", "only in the first commit\n")
	mustGit(t, env, work, "rm", "-q", "old.txt")
	commit(t, env, work, "new.txt", "in the second commit\n")
	mustGit(t, env, work, "push", "-q", ts.url("writer", "token-w", project), "main")
	readURL := ts.url("reader", "token-r", project+".git")

	tests := []struct {
		name    string
		filter  string
		missing string // the type of object the clone must lack (blobless: only that)
	}{
		{name: "blobless", filter: "blob:none", missing: "blob"},
		{name: "treeless", filter: "tree:0", missing: "tree"},
	}
	for _, tt := range tests {
		for _, version := range []string{"0", "2"} {
			t.Run(tt.name+" protocol v"+version, func(t *testing.T) {
				dst := filepath.Join(t.TempDir(), "clone")
				_, stderr, err := gitCmd(t, env, nil, "", "-c", "protocol.version="+version,
					"clone", "--no-checkout", "--filter="+tt.filter, readURL, dst)
				if err != nil {
					t.Fatalf("clone: %v\n%s", err, stderr)
				}
				if strings.Contains(stderr, "filtering not recognized") {
					t.Fatalf("server ignored the filter: %s", stderr)
				}
				// The first commit's old.txt is in no checkout of HEAD,
				// so a filtered clone has not fetched it.
				missing := mustGit(t, env, dst, "rev-list", "--objects", "--all", "--missing=print")
				var lacks []string
				for _, line := range strings.Split(missing, "\n") {
					if strings.HasPrefix(line, "?") {
						lacks = append(lacks, strings.TrimPrefix(line, "?"))
					}
				}
				if len(lacks) == 0 {
					t.Fatalf("the %s clone has every object", tt.filter)
				}
				types := map[string]bool{}
				for _, id := range lacks {
					types[mustGit(t, env, serverDir(t, ts), "cat-file", "-t", id)] = true
				}
				if !types[tt.missing] || (tt.missing == "blob" && len(types) != 1) {
					t.Errorf("the %s clone lacks objects of types %v, want %ss", tt.filter, types, tt.missing)
				}
				// Checking out the first commit needs its tree and
				// old.txt: git fetches them on demand.
				mustGit(t, env, dst, "-c", "protocol.version="+version, "checkout", "-q", first)
				if got := mustGit(t, env, dst, "show", first+":old.txt"); got != "only in the first commit" {
					t.Errorf("old.txt after on-demand fetch = %q", got)
				}
			})
		}
	}
}

func serverDir(t *testing.T, ts *testServer) string {
	t.Helper()
	dir, err := ts.repos.Dir(project)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

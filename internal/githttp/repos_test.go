package githttp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRepos(t *testing.T) {
	t.Parallel()
	requireGit(t)
	env := gitEnv(t)
	base := t.TempDir()
	root := filepath.Join(base, "repos")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(outside, "p.git")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	repos := &Repos{Root: root}
	ctx := t.Context()

	// Links inside Root: one that stays in, two that leave.
	if err := os.MkdirAll(filepath.Join(root, "in"), 0o750); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"alias":    "in",                  // group alias inside Root
		"out":      "../outside",          // group leading out
		"abs":      outside,               // absolute group link
		"in/x.git": "../../outside/p.git", // repository leading out
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "in", "file.git"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("create nested and idempotent", func(t *testing.T) {
		for range 2 {
			if err := repos.Create(ctx, "a/b/c/project"); err != nil {
				t.Fatal(err)
			}
		}
		dir, err := repos.Dir("a/b/c/project")
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(root, "a", "b", "c", "project.git"); dir != want {
			t.Errorf("Dir = %q, want %q", dir, want)
		}
		if got := mustGit(t, env, dir, "rev-parse", "--is-bare-repository"); got != "true" {
			t.Errorf("is-bare-repository = %s", got)
		}
		if got := mustGit(t, env, dir, "config", "http.receivepack"); got != "true" {
			t.Errorf("http.receivepack = %s", got)
		}
		if got := mustGit(t, env, dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
			t.Errorf("HEAD = %s, want refs/heads/main", got)
		}
	})

	// makeTwice makes the repository of project, gives it a ref, and makes
	// it again; it answers the repository and the ref's file.
	makeTwice := func(t *testing.T, mk func(context.Context, string) error, project string) (dir, ref string) {
		t.Helper()
		if err := mk(ctx, project); err != nil {
			t.Fatal(err)
		}
		dir, err := repos.Dir(project)
		if err != nil {
			t.Fatal(err)
		}
		ref = filepath.Join(dir, "refs", "heads", "pushed")
		if err := os.WriteFile(ref, []byte("0123456789012345678901234567890123456789\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := mk(ctx, project); err != nil {
			t.Fatal(err)
		}
		return dir, ref
	}

	t.Run("create replaces what a deleted project left", func(t *testing.T) {
		// A crash between deleting a project and its repository leaves
		// the repository; a new project at the path must not inherit it.
		dir, leftover := makeTwice(t, repos.Create, "reuse/p")
		if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the new repository kept the old one's ref: %v", err)
		}
		if got := mustGit(t, env, dir, "rev-parse", "--is-bare-repository"); got != "true" {
			t.Errorf("is-bare-repository = %s", got)
		}
	})

	t.Run("create through a link inside root", func(t *testing.T) {
		if err := repos.Create(ctx, "alias/q"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, "in", "q.git", "HEAD")); err != nil {
			t.Errorf("repository not created in the link's target: %v", err)
		}
	})

	errTests := []struct {
		name    string
		project string
		want    error
	}{
		{name: "invalid", project: "a/../b", want: ErrInvalidPath},
		{name: "one segment", project: "project", want: ErrInvalidPath},
		{name: "missing", project: "a/missing", want: ErrNotFound},
		{name: "not a directory", project: "in/file", want: ErrNotFound},
		{name: "group link out of root", project: "out/p", want: ErrNotFound},
		{name: "absolute group link", project: "abs/p", want: ErrNotFound},
		{name: "repository link out of root", project: "in/x", want: ErrNotFound},
	}
	for _, tt := range errTests {
		t.Run("dir "+tt.name, func(t *testing.T) {
			if _, err := repos.Dir(tt.project); !errors.Is(err, tt.want) {
				t.Errorf("Dir(%q) = %v, want %v", tt.project, err, tt.want)
			}
		})
	}

	t.Run("create refuses to leave root", func(t *testing.T) {
		for _, p := range []string{"out/new", "abs/new", "out/sub/new", "a/../new"} {
			if err := repos.Create(ctx, p); err == nil {
				t.Errorf("Create(%q) succeeded", p)
			}
		}
		entries, err := os.ReadDir(outside)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "p.git" {
			t.Errorf("Create wrote outside root: %v", entries)
		}
	})

	t.Run("remove", func(t *testing.T) {
		if err := repos.Remove("a/b/c/project"); err != nil {
			t.Fatal(err)
		}
		if _, err := repos.Dir("a/b/c/project"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Dir after Remove = %v, want ErrNotFound", err)
		}
		if err := repos.Remove("a/b/c/project"); err != nil {
			t.Errorf("second Remove = %v, want nil", err)
		}
		// Removing the link removes the link, never what it points at.
		if err := repos.Remove("in/x"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(outside, "p.git")); err != nil {
			t.Errorf("Remove followed a link out of root: %v", err)
		}
		if err := repos.Remove("out/p"); err == nil {
			t.Error("Remove through a link out of root succeeded")
		}
		if _, err := os.Stat(filepath.Join(outside, "p.git")); err != nil {
			t.Errorf("Remove reached out of root: %v", err)
		}
		if err := repos.Remove("../x"); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Remove(../x) = %v, want ErrInvalidPath", err)
		}
	})

	t.Run("ensure keeps what is there", func(t *testing.T) {
		// Two first pushes race to make a missing repository: the second
		// must not replace the first's, with its refs.
		_, pushed := makeTwice(t, repos.Ensure, "keep/p")
		if _, err := os.Stat(pushed); err != nil {
			t.Errorf("Ensure replaced a repository: %v", err)
		}
	})

	t.Run("no staging left behind", func(t *testing.T) {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if n := d.Name(); strings.HasPrefix(n, ".new-") || strings.HasPrefix(n, ".old-") || strings.HasPrefix(n, ".probe-") {
				t.Errorf("left behind: %s", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestReposSweep(t *testing.T) {
	t.Parallel()
	requireGit(t)
	base := t.TempDir()
	root := filepath.Join(base, "repos")
	outside := filepath.Join(base, "outside")
	repos := &Repos{Root: root}
	for _, d := range []string{root, outside} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"a/b/p1", "a/p2"} {
		if err := repos.Create(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	plant := func(dir string, age time.Time) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, age, age); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	gone := []string{
		plant(filepath.Join(root, "a", "b", ".new-crashed.git"), old),
		plant(filepath.Join(root, "a", ".old-crashed"), old),
		plant(filepath.Join(root, ".probe-crashed"), old),
	}
	kept := []string{
		plant(filepath.Join(root, "a", ".new-young.git"), time.Now()), // maybe another replica's
		plant(filepath.Join(root, "a", "p2.git", ".old-inside"), old), // inside a repository
		plant(filepath.Join(outside, ".old-outside"), old),            // behind a symbolic link
		filepath.Join(root, "a", "b", "p1.git"),
		filepath.Join(root, "a", "p2.git"),
	}

	n, err := repos.Sweep(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(gone) {
		t.Errorf("Sweep removed %d, want %d", n, len(gone))
	}
	for _, d := range gone {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: want it removed, Lstat: %v", d, err)
		}
	}
	for _, d := range kept {
		if _, err := os.Lstat(d); err != nil {
			t.Errorf("%s: want it kept: %v", d, err)
		}
	}
	if _, err := repos.Dir("a/b/p1"); err != nil {
		t.Errorf("repository after sweep: %v", err)
	}
}

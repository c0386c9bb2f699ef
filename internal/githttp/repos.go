package githttp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// ErrNotFound is returned (wrapped) for a repository that does not exist, is
// not a directory, or lies outside the root; the handler also uses it for
// requests that are not git routes. Render it as 404.
var ErrNotFound = &tokens.Error{Kind: tokens.KindNotFound, Message: "Not Found"}

// Repos manages bare repositories under Root, one per project path:
// <Root>/<path>.git.
//
// Every file system access goes through an os.Root, so a symbolic link that
// points out of Root (or any absolute symbolic link) makes the repository
// not found rather than reaching outside.
type Repos struct {
	// Root is the directory holding the repositories. It must exist.
	Root string
	// GitBin is the git executable; empty means "git" from PATH.
	GitBin string
	// DefaultBranch is the branch HEAD names in a new repository; empty
	// means "main".
	DefaultBranch string
}

// Create makes a new, empty bare repository for projectPath and any parent
// directories. It is built under a staging name beside it and renamed into
// place, so a crash leaves no half-made repository at the path; whatever
// was there is removed first: a project path the store has just given out
// can only hold what a deleted project left behind (a crash between
// deleting the project and its repository), and the new project must not
// inherit that.
func (r *Repos) Create(ctx context.Context, projectPath string) error {
	return r.create(ctx, projectPath, true)
}

// Ensure makes the repository of projectPath unless there is one: for a
// project whose repository was never made. One that another request makes
// meanwhile is kept, never replaced.
func (r *Repos) Ensure(ctx context.Context, projectPath string) error {
	return r.create(ctx, projectPath, false)
}

func (r *Repos) create(ctx context.Context, projectPath string, replace bool) error {
	if err := ValidProjectPath(projectPath); err != nil {
		return err
	}
	root, abs, err := r.open()
	if err != nil {
		return err
	}
	defer root.Close()

	rel := projectPath + ".git"
	if !replace && present(root, rel) {
		return nil
	}
	// Make the directories through the os.Root so a symbolic link in the
	// way cannot make us create them elsewhere; only then let git, which
	// follows any path, at the directory.
	if err := root.MkdirAll(filepath.Dir(rel), 0o750); err != nil {
		return fmt.Errorf("create %s: %w", projectPath, err)
	}
	// Beside the repository, so the rename stays on one file system.
	// Project segments never start with '.', so no project owns this.
	staging := filepath.Join(filepath.Dir(rel), stagingPrefix+rand.Text()+".git")
	if err := root.Mkdir(staging, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", projectPath, err)
	}
	defer root.RemoveAll(staging) // gone once renamed; a leftover on failure
	dir := filepath.Join(abs, staging)
	branch := r.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	if err := r.git(ctx, "init", "--bare", "--quiet", "--initial-branch="+branch, dir); err != nil {
		return fmt.Errorf("create %s: %w", projectPath, err)
	}
	// The handler authorizes pushes itself and forces this on for
	// http-backend anyway; setting it here keeps the repository correct
	// when served by a stock git http-backend too.
	if err := r.git(ctx, "--git-dir="+dir, "config", "http.receivepack", "true"); err != nil {
		return fmt.Errorf("create %s: %w", projectPath, err)
	}
	if replace {
		if err := r.discard(root, rel); err != nil {
			return fmt.Errorf("create %s: %w", projectPath, err)
		}
	}
	if err := root.Rename(staging, rel); err != nil {
		if !replace && present(root, rel) {
			return nil // made by another request meanwhile
		}
		return fmt.Errorf("create %s: %w", projectPath, err)
	}
	return nil
}

func present(root *os.Root, rel string) bool {
	_, err := root.Lstat(rel)
	return err == nil
}

// Remove deletes the repository of projectPath. A missing repository is not
// an error. Parent group directories stay.
func (r *Repos) Remove(projectPath string) error {
	if err := ValidProjectPath(projectPath); err != nil {
		return err
	}
	root, _, err := r.open()
	if err != nil {
		return err
	}
	defer root.Close()
	if err := r.discard(root, projectPath+".git"); err != nil {
		return fmt.Errorf("remove %s: %w", projectPath, err)
	}
	return nil
}

// discard takes rel away in one step, by renaming it to a staging name,
// then deletes it: a crash part way through a large repository leaves
// nothing at rel for a later project to be served.
func (r *Repos) discard(root *os.Root, rel string) error {
	if _, err := root.Lstat(rel); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	old := filepath.Join(filepath.Dir(rel), discardPrefix+rand.Text())
	if err := root.Rename(rel, old); err != nil {
		return err
	}
	// A rename keeps the repository's own time; Sweep must see this
	// name as new while it is being deleted.
	now := time.Now()
	_ = root.Chtimes(old, now, now)
	return root.RemoveAll(old)
}

// ErrGit wraps a git binary that cannot be run.
var ErrGit = errors.New("git cannot be run")

// Check reports whether repositories can be made and served: the git
// binary runs (ErrGit otherwise) and Root is writable. A server calls it at
// start, so a missing git or a read-only directory stops it there instead
// of failing every new project.
func (r *Repos) Check(ctx context.Context) error {
	if err := r.git(ctx, "--version"); err != nil {
		return fmt.Errorf("%w: %w", ErrGit, err)
	}
	root, _, err := r.open()
	if err != nil {
		return err
	}
	defer root.Close()
	probe := probePrefix + rand.Text()
	if err := root.Mkdir(probe, 0o750); err != nil {
		return fmt.Errorf("repos: %s is not writable: %w", r.Root, err)
	}
	return root.Remove(probe)
}

// The names Create, Remove and Check give what they make beside the
// repositories and delete again; a crash part way leaves them behind.
// Project segments never start with '.', so no project owns these names.
const (
	stagingPrefix = ".new-"
	discardPrefix = ".old-"
	probePrefix   = ".probe-"
)

var leftoverPrefixes = []string{stagingPrefix, discardPrefix, probePrefix}

// Sweep deletes what crashes left under Root: staging directories of
// creates and removals and start-up probes, once they are older than age
// (discard dates its directory when it takes it). Younger ones may be
// another replica's work in progress on the same directory. It never descends into a repository (a directory ending in
// .git, which no group segment may) nor follows a symbolic link, and it
// returns how many it deleted.
func (r *Repos) Sweep(age time.Duration) (int, error) {
	root, _, err := r.open()
	if err != nil {
		return 0, err
	}
	defer root.Close()
	cutoff := time.Now().Add(-age)
	removed := 0
	var errs []error // one directory that can't be read or emptied stops nothing else
	// WalkDir reports a symbolic link as what it is, never as the
	// directory it points at, so it never follows one.
	_ = fs.WalkDir(root.FS(), ".", func(rel string, e fs.DirEntry, err error) error {
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("sweep %s: %w", rel, err))
			return nil
		case !isLeftover(e.Name()):
			if e.IsDir() && rel != "." && strings.HasSuffix(e.Name(), ".git") {
				return fs.SkipDir
			}
			return nil
		}
		if info, err := e.Info(); err != nil || info.ModTime().After(cutoff) {
			return skip(e) // gone meanwhile, or maybe still in use
		}
		if err := root.RemoveAll(rel); err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", rel, err))
		} else {
			removed++
		}
		return skip(e)
	})
	return removed, errors.Join(errs...)
}

// skip tells WalkDir not to enter e: a leftover is removed or left whole.
func skip(e fs.DirEntry) error {
	if e.IsDir() {
		return fs.SkipDir
	}
	return nil
}

func isLeftover(name string) bool {
	for _, p := range leftoverPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Dir returns the absolute directory of the repository of projectPath after
// checking that the path is valid, that the directory exists and that it
// does not leave Root, symbolic links included. Its errors wrap
// ErrInvalidPath or ErrNotFound.
func (r *Repos) Dir(projectPath string) (string, error) {
	if err := ValidProjectPath(projectPath); err != nil {
		return "", err
	}
	root, abs, err := r.open()
	if err != nil {
		return "", err
	}
	defer root.Close()
	rel := projectPath + ".git"
	fi, err := root.Stat(rel)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrNotFound, projectPath, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%w: %s is not a directory", ErrNotFound, projectPath)
	}
	return filepath.Join(abs, filepath.FromSlash(rel)), nil
}

// open opens Root as an os.Root and also returns its absolute path, which
// git needs.
func (r *Repos) open() (*os.Root, string, error) {
	abs, err := r.absRoot()
	if err != nil {
		return nil, "", err
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, "", fmt.Errorf("repos: %w", err)
	}
	return root, abs, nil
}

func (r *Repos) absRoot() (string, error) {
	if r.Root == "" {
		return "", errors.New("repos: empty root")
	}
	abs, err := filepath.Abs(r.Root)
	if err != nil {
		return "", fmt.Errorf("repos: %w", err)
	}
	return abs, nil
}

func (r *Repos) gitBin() string {
	if r.GitBin == "" {
		return "git"
	}
	return r.GitBin
}

// git runs one git command and puts its output into the error if it fails.
func (r *Repos) git(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, r.gitBin(), args...)
	cmd.Env = baseEnv()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(out.String()))
	}
	return nil
}

// inheritedEnv lists the variables git may take from the server's
// environment. Everything else, GIT_DIR and friends in particular, is left
// out so it cannot point git at another repository.
var inheritedEnv = []string{
	"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL",
	"GIT_EXEC_PATH", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_GLOBAL",
}

func baseEnv() []string {
	env := make([]string, 0, len(inheritedEnv))
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

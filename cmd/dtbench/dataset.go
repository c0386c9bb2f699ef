package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/deploytokens/deploytokens/tokens"
)

// tokensPerProject is how many deploy tokens each bench project holds, so a
// million tokens live in a hundred thousand projects.
const tokensPerProject = 10

// loaders is how many goroutines load records. The Store methods take one
// record each, so a million tokens take a million round trips to Redis:
// enough of them in flight keep Redis busy (40,000 tokens a second on 2
// cores, where one at a time does a tenth of that). The embedded store
// writes one transaction at a time whatever the number; the loaders still
// generate secrets and digests in parallel.
const loaders = 32

// gitTokens bounds the tokens the git authorization scenario rotates over,
// gitRepoTokens those of the empty-repository one: each of their projects
// gets a repository on disk, and at a few dozen clones a second the
// warm-up can use only a few hundred tokens.
const (
	gitTokens     = 1000
	gitRepoTokens = 200
)

// dataset is what was loaded, and the credentials the scenarios use.
type dataset struct {
	projects int
	// rotating are the tokens the /jwt/auth scenarios rotate over.
	rotating []cred
	// gitRepo are tokens whose projects have an empty repository on disk;
	// gitNoRepo tokens whose projects have none.
	gitRepo, gitNoRepo       []cred
	repoProjects             []string
	projectsLoad, tokensLoad time.Duration
}

func projectPath(p int) string { return fmt.Sprintf("bench-%d/project-%d", p/1000, p) }

// parallel runs fn for every i in [0, n) on loaders goroutines and answers
// the first error.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range loaders {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fn(ctx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// load creates n deploy tokens, tokensPerProject per project, through the
// Store methods the server uses and the conformance suite covers. Every
// token is a real one (a generated secret, stored by its keyed digest, a
// year of validity, read_repository and read_registry); the secrets of the
// rotate tokens spread evenly over the whole set are kept. afterProjects
// runs between the projects and the tokens.
func load(ctx context.Context, s tokens.Store, keys *tokens.Keys, n, rotate int, afterProjects func() error) (*dataset, error) {
	now := time.Now().UTC()
	owner := tokens.User{Username: "bench-owner", Name: "dtbench", CreatedAt: now}
	if err := s.CreateUser(ctx, &owner); err != nil {
		return nil, err
	}
	ds := &dataset{projects: (n + tokensPerProject - 1) / tokensPerProject}
	start := time.Now()
	pids := make([]int64, ds.projects)
	member := tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: now}
	err := parallel(ctx, ds.projects, func(ctx context.Context, i int) error {
		p := tokens.Project{Path: "project-" + strconv.Itoa(i), PathWithNamespace: projectPath(i),
			Visibility: tokens.Private, CreatorID: owner.ID, CreatedAt: now}
		err := s.CreateProject(ctx, &p, member)
		pids[i] = p.ID
		return err
	})
	if err != nil {
		return nil, err
	}
	ds.projectsLoad = time.Since(start)
	if err := afterProjects(); err != nil {
		return nil, err
	}

	rotate = min(rotate, n)
	step := n / rotate
	ds.rotating = make([]cred, rotate)
	// Expiry a year ahead at midnight UTC, as the API stores it.
	expires := time.Date(now.Year()+1, now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	scopes := []string{tokens.ScopeReadRepository, tokens.ScopeReadRegistry}
	start = time.Now()
	err = parallel(ctx, n, func(ctx context.Context, i int) error {
		secret, err := tokens.Generate(tokens.DeployTokenSecret)
		if err != nil {
			return err
		}
		t := tokens.DeployToken{ProjectID: pids[i/tokensPerProject], Name: "bench token " + strconv.Itoa(i), Scopes: scopes,
			ExpiresAt: &expires, CreatedAt: now, CreatorID: owner.ID, Digest: keys.Digest(secret.Reveal())}
		if err := s.CreateDeployToken(ctx, &t); err != nil {
			return err
		}
		if i%step == 0 && i/step < rotate {
			ds.rotating[i/step] = cred{user: t.Username, secret: secret.Reveal(), project: projectPath(i / tokensPerProject)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ds.tokensLoad = time.Since(start)

	// The git scenarios take the rotating tokens' projects in turn: every
	// other one gets a repository.
	ordinal := map[string]int{}
	for _, c := range ds.rotating {
		if _, ok := ordinal[c.project]; !ok {
			ordinal[c.project] = len(ordinal)
		}
	}
	seen := map[string]bool{}
	for _, c := range ds.rotating {
		if ordinal[c.project]%2 == 0 {
			if len(ds.gitRepo) < gitRepoTokens {
				ds.gitRepo = append(ds.gitRepo, c)
				if !seen[c.project] {
					seen[c.project] = true
					ds.repoProjects = append(ds.repoProjects, c.project)
				}
			}
		} else if len(ds.gitNoRepo) < gitTokens {
			ds.gitNoRepo = append(ds.gitNoRepo, c)
		}
	}
	return ds, nil
}

// scratchDir is where the embedded store is loaded: a memory file system,
// where a commit's fsync costs nothing. On disk each CreateDeployToken is
// a synced transaction, about 2,000 a second here (a million tokens would
// take over eight minutes); in memory about 12,000.
func scratchDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && unix.Access("/dev/shm", unix.W_OK) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

// install copies the loaded store file src to dst on disk, syncs it, and
// drops it from the page cache, so the server reads it as after a reboot.
// Left cached, the kernel's fault-around would map most of the file into
// the server's resident set while it looks up a few thousand records
// spread over it (700 MB instead of about 120 MB at a million tokens).
func install(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if err == nil {
		// Only advice to the kernel: failing costs page cache, not data.
		_ = unix.Fadvise(int(out.Fd()), 0, 0, unix.FADV_DONTNEED)
	}
	return errors.Join(err, out.Close())
}

// makeRepos creates an empty bare repository, as the server's own would
// be, for each project under root.
func makeRepos(ctx context.Context, tmp, root string, projects []string) error {
	tmpl := filepath.Join(tmp, "template.git")
	if _, err := os.Stat(tmpl); err != nil {
		for _, args := range [][]string{
			{"init", "--bare", "--quiet", "--initial-branch=main", "--template=", tmpl},
			{"--git-dir=" + tmpl, "config", "http.receivepack", "true"},
		} {
			if out, err := exec.CommandContext(ctx, "git", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("git %v: %w: %s", args, err, out)
			}
		}
	}
	fsys := os.DirFS(tmpl)
	for _, p := range projects {
		if err := os.CopyFS(filepath.Join(root, filepath.FromSlash(p)+".git"), fsys); err != nil {
			return err
		}
	}
	return nil
}

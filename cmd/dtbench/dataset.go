package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// tokensPerProject is how many deploy tokens each bench project holds, so a
// million tokens live in a hundred thousand projects.
const tokensPerProject = 10

// loadChunk is how many records dtbench hands a bulk loader at once, which
// bounds its own memory at a million tokens.
const loadChunk = 50000

// gitTokens bounds the tokens the git authorization scenario rotates over,
// gitRepoTokens those of the empty-repository one: each of their projects
// gets a repository on disk, and at a few dozen clones a second the
// warm-up can use only a few hundred tokens.
const (
	gitTokens     = 1000
	gitRepoTokens = 200
)

// bulkStore is a store that loads records in bulk; both stores are.
type bulkStore interface {
	tokens.Store
	BulkCreateProjects(ctx context.Context, ps []tokens.Project, owner tokens.Member) error
	BulkCreateDeployTokens(ctx context.Context, ts []tokens.DeployToken) error
}

// dataset is what was loaded, and the credentials the scenarios use.
type dataset struct {
	tokens, projects int
	// rotating are the tokens the /jwt/auth scenarios rotate over.
	rotating []cred
	// gitRepo are tokens whose projects have an empty repository on disk;
	// gitNoRepo tokens whose projects have none.
	gitRepo, gitNoRepo []cred
	repoProjects       []string
	// sample are stored tokens spread over the whole set, for memory
	// sampling.
	sample       []tokens.DeployToken
	projectsLoad time.Duration
	tokensLoad   time.Duration
}

func projectPath(p int) string { return fmt.Sprintf("bench-%d/project-%d", p/1000, p) }

// load creates n deploy tokens, tokensPerProject per project, through the
// bulk loader of s. Every token is a real one (a generated secret, stored
// by its keyed digest); the secrets of the rotate tokens spread evenly over
// the whole set are kept. afterProjects is called between the projects and
// the tokens.
func load(ctx context.Context, s bulkStore, keys *tokens.Keys, n, rotate int, afterProjects func()) (*dataset, error) {
	now := time.Now().UTC()
	owner := tokens.User{Username: "bench-owner", Name: "dtbench", CreatedAt: now}
	if err := s.CreateUser(ctx, &owner); err != nil {
		return nil, err
	}
	ds := &dataset{tokens: n, projects: (n + tokensPerProject - 1) / tokensPerProject}

	start := time.Now()
	pids := make([]int64, 0, ds.projects)
	member := tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: now}
	for first := 0; first < ds.projects; first += loadChunk {
		ps := make([]tokens.Project, min(loadChunk, ds.projects-first))
		for i := range ps {
			p := first + i
			ps[i] = tokens.Project{Path: "project-" + strconv.Itoa(p), PathWithNamespace: projectPath(p),
				Visibility: tokens.Private, CreatorID: owner.ID, CreatedAt: now}
		}
		if err := s.BulkCreateProjects(ctx, ps, member); err != nil {
			return nil, err
		}
		for _, p := range ps {
			pids = append(pids, p.ID)
		}
	}
	ds.projectsLoad = time.Since(start)
	afterProjects()

	rotate = min(rotate, n)
	step := n / rotate
	sampleStep := max(n/1000, 1)
	// Expiry a year ahead at midnight UTC, as the API stores it.
	expires := time.Date(now.Year()+1, now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	scopes := []string{tokens.ScopeReadRepository, tokens.ScopeReadRegistry}
	start = time.Now()
	for first := 0; first < n; first += loadChunk {
		ts := make([]tokens.DeployToken, min(loadChunk, n-first))
		secrets := map[int]string{}
		for j := range ts {
			i := first + j
			secret, err := tokens.Generate(tokens.DeployTokenSecret)
			if err != nil {
				return nil, err
			}
			if i%step == 0 && i/step < rotate {
				secrets[j] = secret.Reveal()
			}
			ts[j] = tokens.DeployToken{
				ProjectID: pids[i/tokensPerProject], Name: "bench token " + strconv.Itoa(i), Scopes: scopes,
				ExpiresAt: &expires, CreatedAt: now, CreatorID: owner.ID, Digest: keys.Digest(secret.Reveal()),
			}
		}
		if err := s.BulkCreateDeployTokens(ctx, ts); err != nil {
			return nil, err
		}
		for j, t := range ts {
			i := first + j
			if secret, ok := secrets[j]; ok {
				ds.rotating = append(ds.rotating, cred{user: t.Username, secret: secret, project: projectPath(i / tokensPerProject)})
			}
			if i%sampleStep == 0 {
				ds.sample = append(ds.sample, t)
			}
		}
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

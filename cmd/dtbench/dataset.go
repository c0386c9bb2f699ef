package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// tokensPerProject is how many deploy tokens each bench project holds, so a
// million tokens live in a hundred thousand projects.
const tokensPerProject = 10

// loaders is how many records load at once. The Store methods take one
// each, so a million tokens take a million round trips to Redis: enough in
// flight keep Redis busy (40,000 tokens a second on 2 cores, a tenth of
// that one at a time).
const loaders = 32

func projectPath(p int) string { return fmt.Sprintf("bench-%d/project-%d", p/1000, p) }

// parallel runs fn for every i in [0, n), loaders at a time.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(loaders)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

// load creates n deploy tokens, tokensPerProject per project, through the
// Store methods the server uses and the conformance suite covers. Every
// token is a real one (a generated secret, stored by its keyed digest, a
// year of validity, read_repository and read_registry). It answers the
// credentials of rotate tokens spread evenly over the whole set, which the
// scenarios rotate over. No project gets a repository on disk, so git
// requests end at the repository check, after the authorization.
func load(ctx context.Context, s tokens.Store, keys *tokens.Keys, n, rotate int) ([]cred, error) {
	now := time.Now().UTC()
	owner := tokens.User{Username: "bench-owner", Name: "dtbench", CreatedAt: now}
	if err := s.CreateUser(ctx, &owner); err != nil {
		return nil, err
	}
	pids := make([]int64, (n+tokensPerProject-1)/tokensPerProject)
	member := tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: now}
	err := parallel(ctx, len(pids), func(ctx context.Context, i int) error {
		p := tokens.Project{Path: "project-" + strconv.Itoa(i), PathWithNamespace: projectPath(i),
			Visibility: tokens.Private, CreatorID: owner.ID, CreatedAt: now}
		err := s.CreateProject(ctx, &p, member)
		pids[i] = p.ID
		return err
	})
	if err != nil {
		return nil, err
	}

	rotate = min(rotate, n)
	step := n / rotate
	rotating := make([]cred, rotate)
	// Expiry a year ahead at midnight UTC, as the API stores it.
	expires := time.Date(now.Year()+1, now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	scopes := []string{tokens.ScopeReadRepository, tokens.ScopeReadRegistry}
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
			rotating[i/step] = cred{user: t.Username, secret: secret.Reveal(), project: projectPath(i / tokensPerProject)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rotating, nil
}

// loadStore loads n tokens (load) into the Redis at redisURL or, when that
// is empty, into an embedded store it installs at dbPath. The embedded
// store is loaded on a memory file system, where a commit's fsync costs
// nothing: on disk each CreateDeployToken is a synced transaction, about
// 2,000 a second here (a million tokens would take over eight minutes); in
// memory about 12,000.
func loadStore(ctx context.Context, redisURL, dbPath string, keys *tokens.Keys, n, rotate int) ([]cred, error) {
	var (
		st      tokens.Store
		err     error
		scratch = filepath.Join("/dev/shm", "dtbench-"+rand.Text()+".db")
	)
	if unix.Access("/dev/shm", unix.W_OK) != nil {
		scratch = filepath.Join(os.TempDir(), filepath.Base(scratch))
	}
	if redisURL != "" {
		st, err = redisstore.New(ctx, redisstore.Options{URL: redisURL})
	} else {
		defer os.Remove(scratch)
		st, err = boltstore.Open(scratch)
	}
	if err != nil {
		return nil, err
	}
	creds, err := load(ctx, st, keys, n, rotate)
	if err = errors.Join(err, st.Close()); err == nil && redisURL == "" {
		err = install(scratch, dbPath)
	}
	return creds, err
}

// install copies the loaded store file src to dst, on disk, and syncs it.
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
	return errors.Join(err, out.Sync(), out.Close())
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// projectsPerPage is the page size of the GET /projects rows: GitLab's
// largest, what clients listing everything ask for.
const projectsPerPage = 100

// projectScenarios are the GET /projects rows, measured as the admin over
// -projects stored projects: the first page, page 400 (or the last, with
// fewer projects), and the keyset page after the same place, each with
// its first project's path as the answer it must hold.
func projectScenarios(host, adminToken string, n int) []struct {
	name string
	req  request
} {
	deep := min(400, (n+projectsPerPage-1)/projectsPerPage)
	get := func(query, first string) request {
		raw := fmt.Sprintf("GET /api/v4/projects?%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: dtbench\r\nPRIVATE-TOKEN: %s\r\n\r\n", query, host, adminToken)
		return request{raw: []byte(raw), status: http.StatusOK, want: []byte(`"path_with_namespace":"` + first + `"`)}
	}
	at := (deep - 1) * projectsPerPage // the deep page's first project; IDs are 1..n in load order
	return []struct {
		name string
		req  request
	}{
		{"GET /projects page 1", get(fmt.Sprintf("per_page=%d", projectsPerPage), projectPath(0))},
		{fmt.Sprintf("GET /projects page %d", deep), get(fmt.Sprintf("per_page=%d&page=%d", projectsPerPage, deep), projectPath(at))},
		{fmt.Sprintf("GET /projects keyset at %d", at), get(fmt.Sprintf("per_page=%d&pagination=keyset&order_by=id&id_after=%d", projectsPerPage, at), projectPath(at))},
	}
}

// loadProjects creates n private projects through the Store methods the
// server uses, into the Redis at redisURL or, when that is empty, into an
// embedded store installed at dbPath (loaded in memory, as loadStore).
func loadProjects(ctx context.Context, redisURL, dbPath string, n int) error {
	var (
		st  tokens.Store
		err error
	)
	scratch := dbPath + ".loading"
	if redisURL != "" {
		st, err = redisstore.New(ctx, redisstore.Options{URL: redisURL})
	} else {
		if _, serr := os.Stat("/dev/shm"); serr == nil {
			scratch = "/dev/shm/dtbench-projects-" + strconv.Itoa(os.Getpid()) + ".db"
		}
		defer os.Remove(scratch)
		st, err = boltstore.Open(scratch)
	}
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	owner := tokens.User{Username: "bench-owner", Name: "dtbench", CreatedAt: now}
	err = st.CreateUser(ctx, &owner)
	// One at a time in ID order, so project i gets ID i+1 and the
	// scenarios know which path each page starts with.
	for i := 0; i < n && err == nil; i++ {
		p := tokens.Project{Path: "project-" + strconv.Itoa(i), PathWithNamespace: projectPath(i),
			Visibility: tokens.Private, CreatorID: owner.ID, CreatedAt: now}
		err = st.CreateProject(ctx, &p, tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner, CreatedAt: now})
	}
	if err = errors.Join(err, st.Close()); err == nil && redisURL == "" {
		err = install(scratch, dbPath)
	}
	return err
}

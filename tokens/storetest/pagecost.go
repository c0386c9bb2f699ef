package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// Sizes of the store CheckPageCost fills: the projects of issue 21's
// measurements and a project with tens of thousands of deploy tokens.
const (
	costProjects = 50000
	costTokens   = 30000
	costPerPage  = 100
)

// PageCost is how a store's test fills a large store fast and counts the
// store's work, for CheckPageCost.
type PageCost struct {
	// LoadProjects creates ps, owned by owner, as CreateProject would
	// (assigning their IDs), in batches.
	LoadProjects func(t *testing.T, owner tokens.User, ps []tokens.Project)
	// LoadDeployTokens creates ts as CreateDeployToken would, in batches.
	LoadDeployTokens func(t *testing.T, ts []tokens.DeployToken)
	// Ops answers running counts of the store's operations (commands sent
	// to Redis; bbolt transactions and records read) and of the index
	// keys walked past before a page (0 where the index keeps ranks).
	Ops func(t *testing.T) (ops, walked int64)
	// OffsetWalks says offset pages step over some keys before them
	// (bbolt keeps no ranks, only counts of blocks of 1,024 IDs): at most
	// a block's keys and the block counts of the list (and, for a user's
	// page, as much again per private membership), their operations the
	// same whatever the page.
	OffsetWalks bool
}

// CheckPageCost fills s with 50,000 projects (a tenth public, a fifth
// internal, the rest private) and 30,000 deploy tokens in one project,
// then checks that the first page and a deep page (page 400 of projects,
// 250 of the tokens, and keyset pages after the same place) cost the same
// bounded number of store operations, for an admin and for a user who
// sees the internal and public projects and three private ones; and so
// do pages of the project's active tokens (active=true), a tenth of them
// expired.
func CheckPageCost(t *testing.T, s tokens.Store, c PageCost) {
	ctx := t.Context()
	owner := mustUser(t, s, "bulk")
	user := mustUser(t, s, "reader")
	start := time.Now()
	ps := make([]tokens.Project, costProjects)
	for i := range ps {
		vis := tokens.Private
		switch i % 10 {
		case 0:
			vis = tokens.Public
		case 1, 2:
			vis = tokens.Internal
		}
		ps[i] = tokens.Project{Path: fmt.Sprintf("p%05d", i), PathWithNamespace: fmt.Sprintf("bulk/p%05d", i), Name: fmt.Sprintf("p%05d", i), Visibility: vis, CreatorID: owner.ID, CreatedAt: when}
	}
	c.LoadProjects(t, owner, ps)
	ts := make([]tokens.DeployToken, costTokens)
	// Every tenth token expired an hour before the clock the pages are
	// read at: active=true pages skip them through the stores' lists.
	expired, now := when.Add(time.Hour), when.Add(2*time.Hour)
	var active []int // indexes in ts of the active tokens
	for i := range ts {
		ts[i] = tokens.DeployToken{ProjectID: ps[3].ID, Name: fmt.Sprint("t", i), Scopes: []string{tokens.ScopeReadRegistry}, CreatedAt: when, CreatorID: owner.ID, Digest: digest(fmt.Sprint("bulk-", i))}
		if i%10 == 0 {
			ts[i].ExpiresAt = &expired
		} else {
			active = append(active, i)
		}
	}
	c.LoadDeployTokens(t, ts)
	for _, i := range []int{3, 25003, 49993} { // private, first, middle and last
		if err := s.PutMember(ctx, tokens.Member{ProjectID: ps[i].ID, UserID: user.ID, AccessLevel: tokens.Developer, CreatedAt: when}); err != nil {
			t.Fatalf("PutMember: %v", err)
		}
	}
	t.Logf("loaded %d projects and %d deploy tokens in %v", costProjects, costTokens, time.Since(start).Round(time.Millisecond))

	svc := &tokens.Service{Store: s, Now: func() time.Time { return now }}
	admin := &tokens.Actor{User: tokens.User{ID: owner.ID, Username: "bulk", Admin: true}}
	reader := &tokens.Actor{User: user}
	projects := func(a *tokens.Actor, q tokens.ProjectQuery) func() (int64, error) {
		return func() (int64, error) {
			got, _, _, err := svc.PageVisibleProjects(ctx, a, q)
			if len(got) != q.Limit {
				return 0, fmt.Errorf("%d projects, want %d", len(got), q.Limit)
			}
			return got[0].ID, err
		}
	}
	deployTokens := func(p tokens.Page) func() (int64, error) {
		return func() (int64, error) {
			got, total, err := svc.PageDeployTokens(ctx, admin, ps[3].PathWithNamespace, false, p)
			if err == nil && (len(got) != p.Limit || total != costTokens) {
				return 0, fmt.Errorf("%d of %d tokens, want %d of %d", len(got), total, p.Limit, costTokens)
			}
			return got[0].ID, err
		}
	}
	activeTokens := func(p tokens.Page) func() (int64, error) {
		return func() (int64, error) {
			got, total, err := svc.PageDeployTokens(ctx, admin, ps[3].PathWithNamespace, true, p)
			if err == nil && (len(got) != p.Limit || total != len(active)) {
				return 0, fmt.Errorf("%d of %d active tokens, want %d of %d", len(got), total, p.Limit, len(active))
			}
			return got[0].ID, err
		}
	}
	deep := 399 * costPerPage
	// Three ranks (the page's and two memberships' past the first page)
	// each reached through the block counts of 50,000 IDs and one block.
	walkBound := int64(3*(costProjects>>10+1024) + 2*costPerPage)
	// The reader sees the 15,000 internal or public projects (3 of every
	// 10) and 3 private ones of their own: the 7,500 before p24992 are
	// 3 of every 10 below p24990, p24990 and p24991, and p00003. Both of
	// their pages hold one of their own (p00003, p25003).
	cases := []struct {
		name        string
		first, deep func() (int64, error)
		firstID     int64
		deepID      int64
		walks       bool
	}{
		{"admin offset", projects(admin, tokens.ProjectQuery{Page: tokens.Page{Limit: costPerPage}}), projects(admin, tokens.ProjectQuery{Page: tokens.Page{Offset: deep, Limit: costPerPage}}), ps[0].ID, ps[deep].ID, c.OffsetWalks},
		{"admin keyset", projects(admin, tokens.ProjectQuery{Page: tokens.Page{Limit: costPerPage}, Keyset: true}), projects(admin, tokens.ProjectQuery{Page: tokens.Page{Limit: costPerPage}, Keyset: true, After: ps[deep-1].ID}), ps[0].ID, ps[deep].ID, false},
		{"admin keyset descending", projects(admin, tokens.ProjectQuery{Page: tokens.Page{Limit: costPerPage}, Keyset: true, Desc: true}), projects(admin, tokens.ProjectQuery{Page: tokens.Page{Limit: costPerPage}, Keyset: true, Desc: true, After: ps[deep].ID}), ps[costProjects-1].ID, ps[deep-1].ID, false},
		{"user offset", projects(reader, tokens.ProjectQuery{Page: tokens.Page{Limit: costPerPage}}), projects(reader, tokens.ProjectQuery{Page: tokens.Page{Offset: 75 * costPerPage, Limit: costPerPage}}), ps[0].ID, ps[24992].ID, c.OffsetWalks},
		{"user keyset", projects(reader, tokens.ProjectQuery{Page: tokens.Page{Limit: costPerPage}, Keyset: true}), projects(reader, tokens.ProjectQuery{Page: tokens.Page{Limit: costPerPage}, Keyset: true, After: ps[24991].ID}), ps[0].ID, ps[24992].ID, false},
		{"deploy tokens", deployTokens(tokens.Page{Limit: costPerPage}), deployTokens(tokens.Page{Offset: 249 * costPerPage, Limit: costPerPage}), ts[0].ID, ts[249*costPerPage].ID, c.OffsetWalks},
		{"active deploy tokens", activeTokens(tokens.Page{Limit: costPerPage}), activeTokens(tokens.Page{Offset: 249 * costPerPage, Limit: costPerPage}), ts[active[0]].ID, ts[active[249*costPerPage]].ID, c.OffsetWalks},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			measure := func(page func() (int64, error), wantID int64) (ops, walked int64, took time.Duration) {
				ops0, walked0 := c.Ops(t)
				begin := time.Now()
				id, err := page()
				took = time.Since(begin)
				ops1, walked1 := c.Ops(t)
				if err != nil || id != wantID {
					t.Fatalf("page starts at %d, %v; want %d", id, err, wantID)
				}
				return ops1 - ops0, walked1 - walked0, took
			}
			// Once unmeasured: a first call may load a script
			// (EVALSHA answered NOSCRIPT, then EVAL) or warm a cache.
			if _, err := tc.first(); err != nil {
				t.Fatal(err)
			}
			firstOps, firstWalked, firstTook := measure(tc.first, tc.firstID)
			deepOps, deepWalked, deepTook := measure(tc.deep, tc.deepID)
			t.Logf("first page: %d operations, %d keys walked, %v; deep page: %d operations, %d keys walked, %v",
				firstOps, firstWalked, firstTook.Round(time.Microsecond), deepOps, deepWalked, deepTook.Round(time.Microsecond))
			if bound := int64(costPerPage + 50); firstOps != deepOps || deepOps > bound {
				t.Errorf("operations: first page %d, deep page %d; want the same, at most %d", firstOps, deepOps, bound)
			}
			switch {
			case !tc.walks && firstWalked != deepWalked:
				t.Errorf("keys walked: first page %d, deep page %d; want the same", firstWalked, deepWalked)
			case tc.walks && deepWalked > walkBound:
				t.Errorf("keys walked: deep page %d; want at most %d", deepWalked, walkBound)
			}
		})
	}
}

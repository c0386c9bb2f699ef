package storetest

import (
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// testDecoyHidden checks the decoy records (tokens.DecoyDeployToken and
// the others), which a store reads on an unknown digest for timing, are
// never an answer: no list, page, count, lookup by ID, name, path or
// digest shows them, on a new store and once real records exist, and
// their names are free for real records.
func testDecoyHidden(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	dt, dp, pat, du := tokens.DecoyDeployToken(), tokens.DecoyProject(), tokens.DecoyPAT(), tokens.DecoyUser()
	empty := func(t *testing.T) {
		t.Helper()
		page := tokens.Page{Limit: 100}
		users, nUsers, err := s.ListUsers(ctx, tokens.UserQuery{Page: page})
		check(t, "ListUsers", err, len(users), nUsers)
		pats, nPATs, err := s.ListPATs(ctx, tokens.PATQuery{Page: page})
		check(t, "ListPATs", err, len(pats), nPATs)
		projects, err := s.ListProjects(ctx)
		check(t, "ListProjects", err, len(projects))
		for _, index := range []tokens.ProjectIndex{tokens.AllProjects, tokens.InternalProjects, tokens.PublicProjects} {
			ps, n, err := s.PageProjects(ctx, index, page)
			check(t, "PageProjects", err, len(ps), n)
			after, err := s.ProjectsAfter(ctx, index, 0, 100, false)
			check(t, "ProjectsAfter", err, len(after))
		}
		under, err := s.ProjectsUnder(ctx, "", 100)
		check(t, "ProjectsUnder", err, len(under))
		all, err := s.ListAllDeployTokens(ctx)
		check(t, "ListAllDeployTokens", err, len(all))
		allPage, nAll, err := s.PageAllDeployTokens(ctx, page)
		check(t, "PageAllDeployTokens", err, len(allPage), nAll)
		byID, err := s.ProjectsByID(ctx, []int64{0, 1, 2})
		check(t, "ProjectsByID", err, len(byID))
		for _, id := range []int64{0, 1} {
			_, err := s.User(ctx, id)
			wantErr(t, "User", err, tokens.ErrNotFound)
			_, err = s.PAT(ctx, id)
			wantErr(t, "PAT", err, tokens.ErrNotFound)
			_, err = s.Project(ctx, id)
			wantErr(t, "Project", err, tokens.ErrNotFound)
			_, err = s.DeployToken(ctx, id, id)
			wantErr(t, "DeployToken", err, tokens.ErrNotFound)
			tokensOf, err := s.ListDeployTokens(ctx, id)
			check(t, "ListDeployTokens", err, len(tokensOf))
		}
		_, err = s.UserByUsername(ctx, du.Username)
		wantErr(t, "UserByUsername", err, tokens.ErrNotFound)
		_, err = s.ProjectByPath(ctx, dp.PathWithNamespace)
		wantErr(t, "ProjectByPath", err, tokens.ErrNotFound)
		_, _, err = s.DeployTokenByDigest(ctx, dt.Digest)
		wantErr(t, "DeployTokenByDigest", err, tokens.ErrNotFound)
		_, _, err = s.PATByDigest(ctx, pat.Digest)
		wantErr(t, "PATByDigest", err, tokens.ErrNotFound)
		// The fused reads, which read the decoy on a miss, answer as
		// before: not found, nothing of the decoy in the answer.
		a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: dt.Digest, Username: dt.Username, Addr: "192.0.2.1"})
		if err != nil {
			t.Fatalf("DeployTokenForAuth: %v", err)
		}
		wantEqual(t, "DeployTokenForAuth", a, tokens.DeployTokenAuth{})
		p, err := s.PATForAuth(ctx, tokens.PATAuthQuery{Digest: pat.Digest, Addr: "192.0.2.1"})
		if err != nil {
			t.Fatalf("PATForAuth: %v", err)
		}
		wantEqual(t, "PATForAuth", p, tokens.PATAuth{})
	}
	t.Run("new store", empty)

	// The decoy's names are free: real records may take them, and are
	// then found as themselves.
	u := tokens.User{Username: du.Username, CreatedAt: when}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatalf("CreateUser with the decoy's username: %v", err)
	}
	if u.ID != 1 {
		t.Errorf("first user has ID %d, want 1", u.ID)
	}
	got, err := s.UserByUsername(ctx, du.Username)
	if err != nil || got.ID != u.ID {
		t.Errorf("UserByUsername: %+v, %v; want user %d", got, err, u.ID)
	}
	users, n, err := s.ListUsers(ctx, tokens.UserQuery{Page: tokens.Page{Limit: 100}})
	if err != nil || len(users) != 1 || n != 1 {
		t.Errorf("ListUsers: %d users of %d, %v; want the one created", len(users), n, err)
	}
}

// check fails t when err is not nil or any of ns is not 0.
func check(t *testing.T, what string, err error, ns ...int) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, n := range ns {
		if n != 0 {
			t.Errorf("%s answered %v on a store without records, want nothing", what, ns)
			return
		}
	}
}

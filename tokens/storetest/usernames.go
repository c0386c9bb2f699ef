package storetest

import (
	"slices"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

// testTokenUsernames checks the index of deploy tokens by username: case
// folded, project and group tokens alike, revoked ones kept (the caller
// decides what is live), and tokens leaving it with their project or
// group.
func testTokenUsernames(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	owner := mustUser(t, s, "names-owner")
	p := mustProject(t, s, "names/app", owner)
	gone := mustProject(t, s, "names/gone", owner)
	g := mustGroup(t, s, "names-group", tokens.Group{}, owner)
	mk := func(d tokens.DeployToken, username, secret string) tokens.DeployToken {
		t.Helper()
		d.Username, d.Name, d.Scopes, d.CreatedAt, d.CreatorID, d.Digest = username, "t", []string{tokens.ScopeReadRegistry}, when, owner.ID, digest(secret)
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatalf("CreateDeployToken(%q): %v", username, err)
		}
		return d
	}
	inProject := mk(tokens.DeployToken{ProjectID: p.ID}, "Robot", "names-1")
	inGroup := mk(tokens.DeployToken{GroupID: g.ID}, "robot", "names-2")
	revoked := mk(tokens.DeployToken{ProjectID: p.ID}, "ROBOT", "names-3")
	mk(tokens.DeployToken{ProjectID: gone.ID}, "robot", "names-4")
	other := mk(tokens.DeployToken{ProjectID: p.ID}, "robot2", "names-5")
	def := mk(tokens.DeployToken{ProjectID: p.ID}, "", "names-6")
	groupDef := mk(tokens.DeployToken{GroupID: g.ID}, "", "names-7")
	if err := s.RevokeDeployToken(ctx, p.ID, revoked.ID); err != nil {
		t.Fatalf("RevokeDeployToken: %v", err)
	}
	if err := s.DeleteProject(ctx, gone.ID); err != nil {
		t.Fatalf("DeleteProject: %v", err)
	}
	ids := func(username string) []int64 {
		t.Helper()
		ts, err := s.DeployTokensByUsername(ctx, username)
		if err != nil {
			t.Fatalf("DeployTokensByUsername(%q): %v", username, err)
		}
		var out []int64
		for _, d := range ts {
			out = append(out, d.ID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name     string
		username string
		want     []int64
	}{
		{"any case, projects and groups, revoked kept, deleted gone", "rObOt", []int64{inProject.ID, inGroup.ID, revoked.ID}},
		{"no prefix match", "robot2", []int64{other.ID}},
		{"default username", def.Username, []int64{def.ID}},
		{"group's default username", groupDef.Username, []int64{groupDef.ID}},
		{"nobody", "nobody", nil},
		{"prefix only", "rob", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(tt.username); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("group deleted", func(t *testing.T) {
		if err := s.DeleteGroup(ctx, g.ID); err != nil {
			t.Fatalf("DeleteGroup: %v", err)
		}
		if got, want := ids("robot"), []int64{inProject.ID, revoked.ID}; !slices.Equal(got, want) {
			t.Errorf("ids = %v, want %v", got, want)
		}
		if got := ids(groupDef.Username); got != nil {
			t.Errorf("default username: ids = %v, want none", got)
		}
	})
	t.Run("project deleted", func(t *testing.T) {
		if err := s.DeleteProject(ctx, p.ID); err != nil {
			t.Fatalf("DeleteProject: %v", err)
		}
		for _, name := range []string{"robot", "robot2", def.Username} {
			if got := ids(name); got != nil {
				t.Errorf("%s: ids = %v, want none", name, got)
			}
		}
	})
}

package redisstore_test

import (
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/storetest"
)

// TestPageCost: a page of 50,000 projects or 30,000 deploy tokens costs
// the same Redis commands whichever page, counted by the server (INFO
// commandstats, which counts the commands scripts run too).
func TestPageCost(t *testing.T) {
	s, c := startStore(t)
	storetest.CheckPageCost(t, s, storetest.PageCost{
		LoadProjects: func(t *testing.T, owner tokens.User, ps []tokens.Project) {
			if err := s.BulkProjects(t.Context(), owner, ps); err != nil {
				t.Fatal(err)
			}
		},
		LoadDeployTokens: func(t *testing.T, ts []tokens.DeployToken) {
			if err := s.BulkDeployTokens(t.Context(), ts); err != nil {
				t.Fatal(err)
			}
		},
		Ops: func(t *testing.T) (int64, int64) {
			return commandCalls(t, c), 0
		},
	})
}

package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/storetest"
)

// TestPageCost: a page of 50,000 projects or 30,000 deploy tokens costs
// the same transactions and records whichever page; offset pages walk the
// keys before them (bbolt keeps no ranks), keyset pages do not.
func TestPageCost(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "large.db"))
	storetest.CheckPageCost(t, s, storetest.PageCost{
		LoadProjects: func(t *testing.T, owner tokens.User, ps []tokens.Project) {
			if err := s.BulkProjects(owner, ps); err != nil {
				t.Fatal(err)
			}
		},
		LoadDeployTokens: func(t *testing.T, ts []tokens.DeployToken) {
			if err := s.BulkDeployTokens(ts); err != nil {
				t.Fatal(err)
			}
		},
		Ops: func(*testing.T) (int64, int64) {
			txs, records, keys := s.Ops()
			return txs + records, keys
		},
		OffsetWalks: true,
	})
}

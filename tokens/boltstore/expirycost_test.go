package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/storetest"
)

// TestExpiryScanCost: the expiry scan reads the tokens in its window, not
// every token; counted in transactions and records read.
func TestExpiryScanCost(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "expiry.db"))
	storetest.CheckExpiryScanCost(t, s, storetest.ExpiryCost{
		LoadDeployTokens: func(t *testing.T, ts []tokens.DeployToken) {
			if err := s.BulkDeployTokens(ts); err != nil {
				t.Fatal(err)
			}
		},
		Ops: func(*testing.T) int64 {
			txs, records, _ := s.Ops()
			return txs + records
		},
	})
}

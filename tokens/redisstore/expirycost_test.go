package redisstore_test

import (
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/storetest"
)

// TestExpiryScanCost: the expiry scan reads the tokens in its window, not
// every token; counted by the server (INFO commandstats, which counts the
// commands scripts run too).
func TestExpiryScanCost(t *testing.T) {
	s, c := startStore(t)
	storetest.CheckExpiryScanCost(t, s, storetest.ExpiryCost{
		LoadDeployTokens: func(t *testing.T, ts []tokens.DeployToken) {
			if err := s.BulkDeployTokens(t.Context(), ts); err != nil {
				t.Fatal(err)
			}
		},
		Ops: func(t *testing.T) int64 {
			return commandCalls(t, c)
		},
	})
}

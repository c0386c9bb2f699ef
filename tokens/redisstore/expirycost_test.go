package redisstore_test

import (
	"strconv"
	"strings"
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
			info, err := c.Info(t.Context(), "commandstats").Result()
			if err != nil {
				t.Fatal(err)
			}
			var calls int64
			for line := range strings.SplitSeq(info, "\n") {
				_, stats, ok := strings.Cut(line, ":calls=")
				if !ok {
					continue
				}
				n, err := strconv.ParseInt(stats[:strings.IndexByte(stats, ',')], 10, 64)
				if err != nil {
					t.Fatalf("commandstats %q: %v", line, err)
				}
				calls += n
			}
			return calls
		},
	})
}

package redisstore_test

import (
	"strconv"
	"strings"
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
			return calls - 1, 0 // less this INFO, counted in the next
		},
	})
}

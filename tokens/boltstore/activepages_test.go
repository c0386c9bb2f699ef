package boltstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestActiveTokensOnOlderFiles: a file written before the lists of active
// deploy tokens (the fixture) gets them filled when opened, right at
// clocks before and after one of its tokens expires.
func TestActiveTokensOnOlderFiles(t *testing.T) {
	s := openFixture(t, "2026-12-08.db")
	lists := []tokens.DeployTokenList{{}, {ProjectID: 1}, {ProjectID: 2}, {ProjectID: 5}}
	for _, now := range []struct {
		name string
		at   time.Month
	}{{"before an expiry", 5}, {"after it", 7}} {
		at := fixtureAt(now.at, 5, 0)
		for _, l := range lists {
			t.Run(now.name, func(t *testing.T) {
				var want []int64
				for _, d := range fxTokens {
					if (l.ProjectID == 0 || d.ProjectID == l.ProjectID) && d.Active(at) {
						want = append(want, d.ID)
					}
				}
				ts, total, err := s.PageActiveDeployTokens(t.Context(), l, at, tokens.Page{Limit: 100})
				var got []int64
				for _, d := range ts {
					got = append(got, d.ID)
				}
				if err != nil || total != len(want) || !slices.Equal(got, want) {
					t.Errorf("list %+v: %v of %d, %v; want %v", l, got, total, err, want)
				}
			})
		}
	}
}

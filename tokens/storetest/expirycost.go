package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// ExpiryCost is how a store's test counts the store's work, for
// CheckExpiryScanCost.
type ExpiryCost struct {
	// LoadDeployTokens creates ts as CreateDeployToken would, in batches.
	LoadDeployTokens func(t *testing.T, ts []tokens.DeployToken)
	// Ops answers a running count of the store's operations (commands
	// sent to Redis; bbolt transactions and records read).
	Ops func(t *testing.T) int64
}

// CheckExpiryScanCost checks that the expiry scan's store work is bounded
// by the tokens near their expiry, not by all tokens: a scan of a store
// with a few tokens in the warning window costs the same operations after
// thousands of tokens that expire later, or never, are added.
func CheckExpiryScanCost(t *testing.T, s tokens.Store, c ExpiryCost) {
	ctx := t.Context()
	owner := mustUser(t, s, "bulk")
	p := mustProject(t, s, "bulk/app", owner)
	g := mustGroup(t, s, "grp", tokens.Group{}, owner)
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	svc := &tokens.Service{Store: s, Now: func() time.Time { return now }}
	n := 0
	load := func(count int, in func(i int) time.Duration) {
		ts := make([]tokens.DeployToken, count)
		for i := range ts {
			n++
			ts[i] = tokens.DeployToken{ProjectID: p.ID, Name: fmt.Sprint("t", n), Scopes: []string{tokens.ScopeReadRegistry}, CreatedAt: now, CreatorID: owner.ID, Digest: digest(fmt.Sprint("cost-", n))}
			if i%2 == 1 {
				ts[i].ProjectID, ts[i].GroupID = 0, g.ID
			}
			if d := in(i); d != 0 {
				at := now.Add(d)
				ts[i].ExpiresAt = &at
			}
		}
		c.LoadDeployTokens(t, ts)
	}
	day := 24 * time.Hour
	// Six in the window: 3, 10 and 40 days ahead, of a project and a
	// group.
	load(6, func(i int) time.Duration { return []time.Duration{3, 10, 40}[i/2] * day })
	scan := func(t *testing.T, want int) int64 {
		t.Helper()
		before := c.Ops(t)
		got, err := svc.ScanExpiring(ctx)
		ops := c.Ops(t) - before
		if err != nil || got != want {
			t.Fatalf("ScanExpiring: %d events, %v; want %d", got, err, want)
		}
		return ops
	}
	scan(t, 6) // the first warnings, and the first scan reads from the start
	now = now.Add(time.Hour)
	few := scan(t, 0)
	// Thousands that expire after the window or never, and thousands
	// that expired days before the last scan (which can't have missed
	// them: a token's expiry is in the future when it is created).
	load(3000, func(i int) time.Duration {
		switch i % 3 {
		case 0:
			return time.Duration(61+i%300) * day
		case 1:
			return 0
		}
		return -time.Duration(2+i%300) * day
	})
	now = now.Add(time.Hour)
	many := scan(t, 0)
	t.Logf("a scan with 6 tokens in the window of 6 and of 3,006: %d and %d store operations", few, many)
	if many != few || few == 0 {
		t.Errorf("a scan of 3,006 tokens cost %d store operations, of 6 tokens %d; want the same", many, few)
	}
}

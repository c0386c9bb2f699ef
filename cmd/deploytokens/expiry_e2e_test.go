package main

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestExpiryEvents: with the clock moved to 60, 30 and 7 days before a
// deploy token's expiry and past it, its project's and group's hooks get
// expiring_deploy_token with each interval and then deploy_token_expired,
// each once, for project and group tokens alike, on two replicas sharing
// one Redis; the audit trail has them too.
func TestExpiryEvents(t *testing.T) {
	start := time.Now().UTC()
	var now atomic.Int64
	now.Store(start.UnixNano())
	clock := func(c *Config) {
		c.clock = func() time.Time { return time.Unix(0, now.Load()) }
		c.ExpiryScanInterval = 20 * time.Millisecond
	}
	redis := redisConfig(t)
	a := startServer(t, both(redis, fastHooks, clock))
	b := startServer(t, both(redis, fastHooks, clock, a.sameSecret))
	rc := startReceiver(t, nil)
	_, alice := a.user(t, "alice")
	a.mustAPI(t, 201, "POST", "/groups", alice, map[string]any{"path": "corp"}, nil)
	a.project(t, alice, "corp/app", "private")
	a.mustAPI(t, 201, "POST", "/groups/corp/hooks", alice, map[string]any{"url": rc.URL, "resource_deploy_token_events": true}, nil)
	exp := start.AddDate(0, 0, 100).Truncate(24 * time.Hour)
	expires := exp.Format("2006-01-02")
	pt := a.deployToken(t, alice, "corp/app", map[string]any{"name": "p", "scopes": []string{"read_registry"}, "expires_at": expires})
	var gt deployTokenInfo
	a.mustAPI(t, 201, "POST", "/groups/corp/deploy_tokens", alice, map[string]any{"name": "g", "scopes": []string{"read_registry"}, "expires_at": expires}, &gt)
	for _, s := range []*testServer{a, b} {
		s.remember(pt.Token)
		s.remember(gt.Token)
	}
	// A token without expiry, and a revoked one, are never warned of.
	a.deployToken(t, alice, "corp/app", map[string]any{"name": "forever", "scopes": []string{"read_registry"}})
	rv := a.deployToken(t, alice, "corp/app", map[string]any{"name": "gone", "scopes": []string{"read_registry"}, "expires_at": expires})
	a.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/corp%%2Fapp/deploy_tokens/%d", rv.ID), alice, nil, nil)
	b.remember(rv.Token)
	created := len(rc.await("the creations and revocation", atLeast(5)))

	type stage struct {
		at              time.Time
		event, interval string
	}
	stages := []stage{
		{exp.Add(-60*24*time.Hour + time.Hour), "expiring_deploy_token", "60d"},
		{exp.Add(-30*24*time.Hour + time.Hour), "expiring_deploy_token", "30d"},
		{exp.Add(-7*24*time.Hour + time.Hour), "expiring_deploy_token", "7d"},
		{exp.Add(time.Hour), "deploy_token_expired", ""},
	}
	for i, st := range stages {
		now.Store(st.at.UnixNano())
		rs := rc.await(st.event+" "+st.interval, atLeast(created+2*(i+1)))
		// Scans go on at the new time: a duplicate would show by now.
		time.Sleep(200 * time.Millisecond)
		rs = rc.requests()[created+2*i:]
		if len(rs) != 2 {
			t.Fatalf("%s %s: %d deliveries, want 2", st.event, st.interval, len(rs))
		}
		ids := map[int64]bool{}
		for _, r := range rs {
			if r.Body.EventName != st.event || r.Body.Interval != st.interval {
				t.Errorf("stage %s %s: got %s", st.event, st.interval, r.Raw)
			}
			ids[r.Body.ObjectAttributes.ID] = true
		}
		if !ids[pt.ID] || !ids[gt.ID] {
			t.Errorf("stage %s %s: tokens %v, want %d and %d", st.event, st.interval, ids, pt.ID, gt.ID)
		}
	}
	var expiring, expired []auditEventView
	a.mustAPI(t, 200, "GET", "/audit_events?event_name=deploy_token_expiring", a.AdminToken, nil, &expiring)
	a.mustAPI(t, 200, "GET", "/audit_events?event_name=deploy_token_expired", a.AdminToken, nil, &expired)
	if len(expiring) != 6 || len(expired) != 2 {
		t.Fatalf("%d expiring and %d expired audit events, want 6 and 2", len(expiring), len(expired))
	}
	if expired[0].AuthorID != -1 || expired[0].Details.AuthorClass != "System" {
		t.Fatalf("expiry recorded as %+v", expired[0])
	}
}

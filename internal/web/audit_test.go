package web

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
)

var secretPrefixRe = regexp.MustCompile(`dt[dprs]_`)

// TestAuditEventsTab: the settings' Audit events tab lists a project's or
// a group's events newest first, twenty to a page, for its maintainers
// and up; others get the 404 page.
func TestAuditEventsTab(t *testing.T) {
	e := newEnv(t, envOptions{})
	pats := e.seed()
	ctx := context.Background()
	for i := range 21 {
		if _, _, err := e.svc.CreateDeployToken(ctx, e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: fmt.Sprint("t", i), Scopes: []string{"read_registry"}}); err != nil {
			t.Fatal(err)
		}
	}
	_, total, err := e.svc.ProjectAuditEvents(ctx, e.admin, "tanuki/app", tokens.EventFilter{}, tokens.Page{})
	if err != nil || total < 25 {
		t.Fatalf("%d events (%v), want 4 members and 21 tokens at least", total, err)
	}
	maint := e.browser()
	maint.signIn("maint", pats["maint"])
	dev := e.browser()
	dev.signIn("dev", pats["dev"])
	root := e.browser()
	root.signIn("root", pats["root"])
	for _, tc := range []struct {
		name   string
		b      *browser
		path   string
		status int
		rows   int
		has    []string
	}{
		{"first page", maint, "/tanuki/app/-/audit_events", 200, 20, []string{"deploy_token_created", "DeployToken t20 (", `rel="next"`, fmt.Sprintf("%d events", total)}},
		{"second page", maint, "/tanuki/app/-/audit_events?page=2", 200, total - 20, []string{"member_created", `rel="prev"`}},
		{"past the end", maint, "/tanuki/app/-/audit_events?page=9", 200, 0, []string{"No events on this page."}},
		{"bad page", maint, "/tanuki/app/-/audit_events?page=x", 400, 0, nil},
		{"tab on settings", maint, "/tanuki/app/-/settings/repository", 200, 0, []string{`href="/tanuki/app/-/audit_events" id="audit-events-tab"`}},
		{"developer", dev, "/tanuki/app/-/audit_events", 404, 0, nil},
		{"group, admin", root, "/groups/tanuki/-/audit_events", 200, 0, []string{"No events yet."}},
		{"group, project maintainer", maint, "/groups/tanuki/-/audit_events", 404, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.b.get(tc.path)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d", r.Status, tc.status)
			}
			if n := strings.Count(r.Body, "data-event-id="); n != tc.rows {
				t.Errorf("%d rows, want %d", n, tc.rows)
			}
			for _, s := range tc.has {
				if !strings.Contains(r.Body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			if tc.status == http.StatusOK && secretPrefixRe.MatchString(r.Body) {
				t.Errorf("page holds a secret")
			}
		})
	}
}

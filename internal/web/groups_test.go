package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/auth"
	"github.com/deploytokens/deploytokens/tokens"
)

// The group page is the project page's handlers and templates over a
// group: these tests check what differs (who may, which tokens, the
// links) and that the flow works end to end on it.
const (
	groupSettingsPath = "/groups/corp/team/-/settings/repository"
	groupCreatePath   = groupSettingsPath + "/deploy_tokens"
)

// seedGroups creates the group corp (owned by gowner), its subgroup
// corp/team, and members of corp whose level corp/team inherits:
// gmaint (Maintainer) and gdev (Developer); tmaint is a Maintainer of
// corp/team alone. It answers each new user's api PAT by username.
func (e *env) seedGroups() map[string]string {
	e.t.Helper()
	pats := map[string]string{}
	for _, name := range []string{"gowner", "gmaint", "gdev", "tmaint"} {
		pats[name] = e.pat(e.user(name).ID, tokens.ScopeAPI)
	}
	corp := e.group("corp", e.userID("gowner"))
	team := e.group("corp/team", e.userID("gowner"))
	e.groupMember(corp, "gmaint", tokens.Maintainer)
	e.groupMember(corp, "gdev", tokens.Developer)
	e.groupMember(team, "tmaint", tokens.Maintainer)
	return pats
}

// group creates a private group straight in the store (the groups API is
// another package's), with ownerID as its owner.
func (e *env) group(fullPath string, ownerID int64) tokens.Group {
	e.t.Helper()
	ctx := context.Background()
	g := tokens.Group{Name: fullPath, FullPath: fullPath, Path: fullPath[strings.LastIndexByte(fullPath, '/')+1:], Visibility: tokens.Private, CreatedAt: time.Now()}
	if i := strings.LastIndexByte(fullPath, '/'); i > 0 {
		parent, err := e.store.GroupByPath(ctx, fullPath[:i])
		if err != nil {
			e.t.Fatalf("parent of %s: %v", fullPath, err)
		}
		g.ParentID = parent.ID
	}
	if err := e.store.CreateGroup(ctx, &g, tokens.GroupMember{UserID: ownerID, AccessLevel: tokens.Owner, CreatedAt: time.Now()}); err != nil {
		e.t.Fatalf("CreateGroup %s: %v", fullPath, err)
	}
	return g
}

func (e *env) groupMember(g tokens.Group, username string, level tokens.AccessLevel) {
	e.t.Helper()
	m := tokens.GroupMember{GroupID: g.ID, UserID: e.userID(username), AccessLevel: level, CreatedAt: time.Now()}
	if err := e.store.PutGroupMember(context.Background(), m); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) groupTokens(group string) []tokens.DeployToken {
	e.t.Helper()
	ts, err := e.svc.ListGroupDeployTokens(context.Background(), e.admin, group, false)
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

func TestGroupAccess(t *testing.T) {
	e := newEnv(t, envOptions{})
	pats := e.seed()
	for k, v := range e.seedGroups() {
		pats[k] = v
	}
	tests := []struct {
		name, user string
		status     int
	}{
		{"admin", "root", 200},
		{"owner of the parent", "gowner", 200},
		{"maintainer of the parent, inherited", "gmaint", 200},
		{"maintainer of the group itself", "tmaint", 200},
		{"developer of the parent", "gdev", 404},
		{"maintainer of a project elsewhere", "maint", 404},
		{"no member", "stranger", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			b.signIn(tt.user, pats[tt.user])
			s := b.get(groupSettingsPath)
			if s.Status != tt.status {
				t.Fatalf("settings: %d", s.Status)
			}
			if tt.status == 200 {
				if !strings.Contains(s.Body, `action="/groups/corp/team/-/settings/repository/deploy_tokens"`) {
					t.Errorf("the form does not post to the group:\n%s", s.Body)
				}
				return
			}
			if !strings.Contains(s.Body, "Page not found") {
				t.Errorf("not the web's 404 page:\n%s", s.Body)
			}
			// Not even a well-formed form may create or revoke.
			b.get("/")
			if r := b.post(groupCreatePath, url.Values{"name": {"x"}, "scopes": {"read_registry"}}, true); r.Status != 404 {
				t.Fatalf("create: %d", r.Status)
			}
			if r := b.post(groupSettingsPath+"/deploy_tokens/1/revoke", nil, true); r.Status != 404 {
				t.Fatalf("revoke: %d", r.Status)
			}
		})
	}
	t.Run("the parent's page is its maintainers' only", func(t *testing.T) {
		b := e.browser()
		b.signIn("tmaint", pats["tmaint"])
		if r := b.get("/groups/corp/-/settings/repository"); r.Status != 404 {
			t.Fatalf("%d", r.Status)
		}
	})
	t.Run("unknown group", func(t *testing.T) {
		b := e.browser()
		b.signIn("root", pats["root"])
		if r := b.get("/groups/nope/-/settings/repository"); r.Status != 404 {
			t.Fatalf("%d", r.Status)
		}
	})
	t.Run("signed out goes to sign in and back", func(t *testing.T) {
		r := e.browser().get(groupSettingsPath)
		want := "/users/sign_in?" + url.Values{"redirect_to": {groupSettingsPath}}.Encode()
		if r.Status != http.StatusSeeOther || r.location() != want {
			t.Fatalf("%d %q", r.Status, r.location())
		}
	})
	if n := len(e.groupTokens("corp/team")); n != 0 {
		t.Fatalf("%d tokens created by users without access", n)
	}
}

func TestGroupTokenShownOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.seed()
	pats := e.seedGroups()
	authn := &auth.Authenticator{Store: e.store, Keys: e.keys}
	b := e.browser()
	b.signIn("gmaint", pats["gmaint"])

	page := b.get(groupSettingsPath)
	for _, want := range []string{
		"every project in this group and its subgroups",
		"Create a deploy token for this group",
		"This group has no active deploy tokens.",
		"<li>corp/team</li>",
		`<a href="/groups/corp/team/-/settings/repository" aria-current="page">Repository</a>`,
	} {
		if !strings.Contains(htmlUnescape(page.Body), want) {
			t.Errorf("group page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(page.Body)
	}

	r := b.post(groupCreatePath, url.Values{"name": {"cluster"}, "scopes": {"read_registry", "read_repository"}}, true)
	flashID, found := strings.CutPrefix(r.location(), groupSettingsPath+"?flash=")
	flashID, hash := strings.CutSuffix(flashID, "#js-deploy-tokens")
	if r.Status != http.StatusSeeOther || !found || !hash || !validFlashID(flashID) {
		t.Fatalf("create: %d %q %s", r.Status, r.location(), r.Body)
	}
	ts := e.groupTokens("corp/team")
	if len(ts) != 1 || ts[0].Name != "cluster" || ts[0].GroupID == 0 || ts[0].ProjectID != 0 {
		t.Fatalf("stored %+v", ts)
	}

	page = b.get(groupSettingsPath + "?flash=" + flashID)
	username, secret := inputValue(t, page.Body, "deploy-token-user"), inputValue(t, page.Body, "deploy-token")
	e.secrets = append(e.secrets, secret)
	if page.Status != 200 || username != ts[0].Username || !strings.HasPrefix(secret, "dtd_") {
		t.Fatalf("%d username %q secret %q", page.Status, username, secret)
	}
	for _, want := range []string{
		"Your new group deploy token has been created.",
		"Save the deploy token somewhere safe.",
		`<details id="deploy-tokens" open>`,
	} {
		if !strings.Contains(htmlUnescape(page.Body), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if p, err := authn.Check(context.Background(), username, secret); err != nil || p.Kind != auth.DeployTokenKind {
		t.Fatalf("the shown token does not authenticate: %v", err)
	}
	active := regexp.MustCompile(`(?s)<table id="active-deploy-tokens".*?</table>`).FindString(page.Body)
	if want := fmt.Sprintf(`href="/groups/corp/team/-/settings/repository/deploy_tokens/%d/revoke"`, ts[0].ID); !strings.Contains(active, want) {
		t.Errorf("active tokens table lacks %s:\n%s", want, active)
	}
	if again := b.get(groupSettingsPath + "?flash=" + flashID); strings.Contains(again.Body, secret) || strings.Contains(again.Body, `id="deploy-token"`) {
		t.Fatal("a reload shows the token again")
	}

	t.Run("a group's flash shows on no other page", func(t *testing.T) {
		for _, other := range []string{"/groups/corp/-/settings/repository", "/tanuki/app/-/settings/repository"} {
			b.get(groupSettingsPath)
			r := b.post(groupCreatePath, url.Values{"name": {"elsewhere"}, "scopes": {"read_registry"}}, true)
			_, id, _ := strings.Cut(strings.TrimSuffix(r.location(), "#js-deploy-tokens"), "?flash=")
			// gmaint may see corp's page, not tanuki/app's: either way, the
			// page does not show a flash of another.
			if p := b.get(other + "?flash=" + id); (p.Status != 200 && p.Status != 404) || strings.Contains(p.Body, `id="deploy-token"`) {
				t.Fatalf("%s shows the group's token: %d", other, p.Status)
			}
		}
	})
}

func TestGroupRevoke(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.seed()
	pats := e.seedGroups()
	ctx := context.Background()
	keep, _, err := e.svc.CreateGroupDeployToken(ctx, e.admin, "corp/team", tokens.CreateDeployTokenInput{Name: "keep", Scopes: []string{"read_repository"}})
	if err != nil {
		t.Fatal(err)
	}
	gone, goneSecret, _ := e.svc.CreateGroupDeployToken(ctx, e.admin, "corp/team", tokens.CreateDeployTokenInput{Name: "gone", Scopes: []string{"read_registry"}})
	parent, _, _ := e.svc.CreateGroupDeployToken(ctx, e.admin, "corp", tokens.CreateDeployTokenInput{Name: "parent", Scopes: []string{"read_registry"}})
	project, _, _ := e.svc.CreateDeployToken(ctx, e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "project", Scopes: []string{"read_registry"}})
	e.secrets = append(e.secrets, goneSecret.Reveal())
	b := e.browser()
	b.signIn("gmaint", pats["gmaint"])
	revokePath := fmt.Sprintf("%s/deploy_tokens/%d/revoke", groupSettingsPath, gone.ID)

	confirm := b.get(revokePath)
	for _, want := range []string{
		`id="confirm-revoke"`,
		`action="` + revokePath + `"`,
		`href="/groups/corp/team/-/settings/repository#js-deploy-tokens"`,
		"clone this group's repositories or pull their images",
	} {
		if !strings.Contains(htmlUnescape(confirm.Body), want) {
			t.Errorf("confirm page lacks %q", want)
		}
	}
	if confirm.Status != 200 || t.Failed() {
		t.Fatalf("confirm page: %d %s", confirm.Status, confirm.Body)
	}
	if r := b.post(revokePath, nil, false); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Form expired") {
		t.Fatalf("revoke without CSRF: %d", r.Status)
	}
	if n := len(e.groupTokens("corp/team")); n != 2 || !e.groupTokens("corp/team")[1].Active(*e.now.Load()) {
		t.Fatal("a revoke without CSRF changed the tokens")
	}
	b.get(revokePath)
	r := b.post(revokePath, nil, true)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.location(), groupSettingsPath+"?flash=") {
		t.Fatalf("revoke: %d %q %s", r.Status, r.location(), r.Body)
	}
	if _, err := (&auth.Authenticator{Store: e.store, Keys: e.keys}).Check(ctx, gone.Username, goneSecret.Reveal()); !errors.Is(err, auth.ErrDenied) {
		t.Fatalf("revoked token still authenticates: %v", err)
	}
	page := b.get(r.location())
	if !strings.Contains(page.Body, "Revoked deploy token gone") {
		t.Errorf("no notice of the revocation:\n%s", page.Body)
	}
	inactive := regexp.MustCompile(`(?s)<table id="inactive-deploy-tokens".*?</table>`).FindString(page.Body)
	if !strings.Contains(inactive, fmt.Sprintf(`data-token-id="%d"`, gone.ID)) || !strings.Contains(inactive, "Revoked") {
		t.Errorf("gone is not listed as revoked:\n%s", inactive)
	}
	active := regexp.MustCompile(`(?s)<table id="active-deploy-tokens".*?</table>`).FindString(page.Body)
	if !strings.Contains(active, fmt.Sprintf(`data-token-id="%d"`, keep.ID)) || strings.Contains(active, fmt.Sprintf(`data-token-id="%d"`, parent.ID)) {
		t.Errorf("active tokens are not the group's own:\n%s", active)
	}

	t.Run("tokens of others are not found here", func(t *testing.T) {
		for _, id := range []int64{parent.ID, project.ID, 424242} {
			path := fmt.Sprintf("%s/deploy_tokens/%d/revoke", groupSettingsPath, id)
			if r := b.get(path); r.Status != 404 {
				t.Fatalf("confirm %d: %d", id, r.Status)
			}
			b.get(groupSettingsPath)
			if r := b.post(path, nil, true); r.Status != 404 {
				t.Fatalf("revoke %d: %d", id, r.Status)
			}
		}
		if ts := e.groupTokens("corp"); !ts[0].Active(*e.now.Load()) {
			t.Fatal("the parent group's token was revoked")
		}
		if ts := e.tokens("tanuki/app"); !ts[0].Active(*e.now.Load()) {
			t.Fatal("the project's token was revoked")
		}
	})
	t.Run("a developer can't revoke", func(t *testing.T) {
		dev := e.browser()
		dev.signIn("gdev", pats["gdev"])
		dev.get("/")
		path := fmt.Sprintf("%s/deploy_tokens/%d/revoke", groupSettingsPath, keep.ID)
		if r := dev.post(path, nil, true); r.Status != 404 {
			t.Fatalf("%d", r.Status)
		}
		if !e.groupTokens("corp/team")[0].Active(*e.now.Load()) {
			t.Fatal("a developer revoked a token")
		}
	})
}

func TestGroupCSRFAndReadOnly(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.seed()
	pats := e.seedGroups()
	form := url.Values{"name": {"x"}, "scopes": {"read_registry"}}
	b := e.browser()
	b.signIn("gmaint", pats["gmaint"])
	b.get(groupSettingsPath)
	for _, token := range []string{"", strings.Repeat("0", 64)} {
		f := url.Values{"name": form["name"], "scopes": form["scopes"]}
		if token != "" {
			f.Set(csrfField, token)
		}
		if r := b.post(groupCreatePath, f, false); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Form expired") {
			t.Fatalf("token %q: %d", token, r.Status)
		}
	}
	if n := len(e.groupTokens("corp/team")); n != 0 {
		t.Fatalf("%d tokens created without the form's token", n)
	}

	ro := e.browser()
	ro.signIn("gmaint", e.pat(e.userID("gmaint"), tokens.ScopeReadAPI))
	page := ro.get(groupSettingsPath)
	if page.Status != 200 || strings.Contains(page.Body, `id="new-deploy-token-form"`) ||
		!strings.Contains(htmlUnescape(page.Body), "you can see this group's deploy tokens but not create or revoke them") {
		t.Fatalf("read-only group page: %d %s", page.Status, page.Body)
	}
	if r := ro.post(groupCreatePath, form, true); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Read-only session") {
		t.Fatalf("create with read_api: %d", r.Status)
	}
	tok, _, err := e.svc.CreateGroupDeployToken(context.Background(), e.admin, "corp/team", tokens.CreateDeployTokenInput{Name: "keep", Scopes: []string{"read_registry"}})
	if err != nil {
		t.Fatal(err)
	}
	ro.get(groupSettingsPath)
	if r := ro.post(fmt.Sprintf("%s/deploy_tokens/%d/revoke", groupSettingsPath, tok.ID), nil, true); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Read-only session") {
		t.Fatalf("revoke with read_api: %d", r.Status)
	}
	if ts := e.groupTokens("corp/team"); len(ts) != 1 || !ts[0].Active(*e.now.Load()) {
		t.Fatalf("a read_api session changed the tokens: %+v", ts)
	}

	// The create form's errors show on the group's page, nothing saved.
	b.get(groupSettingsPath)
	r := b.post(groupCreatePath, url.Values{"name": {""}}, true)
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `action="/groups/corp/team/-/settings/repository/deploy_tokens"`) ||
		!strings.Contains(r.Body, "Select at least one scope.") {
		t.Fatalf("invalid form: %d %s", r.Status, r.Body)
	}
	if n := len(e.groupTokens("corp/team")); n != 1 {
		t.Fatalf("%d tokens after an invalid form", n)
	}
}

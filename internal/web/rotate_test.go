package web

import (
	"context"
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

// TestRotate: the Rotate button leads to a page that asks for the grace;
// rotating shows the new secret once, as after create, both secrets
// authenticate during the grace, and the list says when each token was
// last used.
func TestRotate(t *testing.T) {
	e := newEnv(t, envOptions{})
	pats := e.seed()
	ctx := context.Background()
	tok, oldSecret, err := e.svc.CreateDeployToken(ctx, e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "puller", Scopes: []string{"read_registry"}})
	if err != nil {
		t.Fatal(err)
	}
	used, _, err := e.svc.CreateDeployToken(ctx, e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "used", Scopes: []string{"read_registry"}})
	if err != nil {
		t.Fatal(err)
	}
	threeDaysAgo := e.now.Load().Add(-72 * time.Hour)
	if err := e.store.RecordLastUses(ctx, []tokens.LastUse{{DeployToken: true, ID: used.ID, At: threeDaysAgo, IP: "192.0.2.1"}}); err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, oldSecret.Reveal())
	b := e.browser()
	b.signIn("maint", pats["maint"])
	rotatePath := fmt.Sprintf("%s/deploy_tokens/%d/rotate", settingsPath, tok.ID)

	page := b.get(settingsPath)
	row := func(body string, id int64) string {
		table := regexp.MustCompile(`(?s)<table id="active-deploy-tokens".*?</table>`).FindString(body)
		return regexp.MustCompile(fmt.Sprintf(`(?s)<tr data-token-id="%d">.*?</tr>`, id)).FindString(table)
	}
	for _, tc := range []struct {
		name string
		id   int64
		want string
	}{{"never used", tok.ID, "Never"}, {"used", used.ID, "Last used 3 days ago"}} {
		if r := row(page.Body, tc.id); !strings.Contains(r, tc.want) || !strings.Contains(r, `href="/tanuki/app/-/settings/repository/deploy_tokens/`) {
			t.Errorf("%s: row lacks %q or the buttons:\n%s", tc.name, tc.want, r)
		}
	}
	if !strings.Contains(page.Body, `id="rotate-`+fmt.Sprint(tok.ID)+`"`) {
		t.Fatal("no Rotate button")
	}

	confirm := b.get(rotatePath)
	if confirm.Status != 200 || !strings.Contains(confirm.Body, `id="confirm-rotate"`) || !strings.Contains(confirm.Body, `<option value="24h" selected>`) {
		t.Fatalf("rotate page: %d %s", confirm.Status, confirm.Body)
	}
	if r := b.post(rotatePath, url.Values{"grace": {"1h"}}, false); r.Status != http.StatusForbidden {
		t.Fatalf("rotate without CSRF: %d", r.Status)
	}
	b.get(rotatePath)
	if r := b.post(rotatePath, url.Values{"grace": {"soon"}}, true); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "grace") {
		t.Fatalf("a bad grace: %d %s", r.Status, r.Body)
	}
	b.get(rotatePath)
	r := b.post(rotatePath, url.Values{"grace": {"1h"}}, true)
	flashID, found := strings.CutPrefix(r.location(), settingsPath+"?flash=")
	if r.Status != http.StatusSeeOther || !found {
		t.Fatalf("rotate: %d %q %s", r.Status, r.location(), r.Body)
	}
	shown := b.get(settingsPath + "?flash=" + strings.TrimSuffix(flashID, "#js-deploy-tokens"))
	newSecret := inputValue(t, shown.Body, "deploy-token")
	e.secrets = append(e.secrets, newSecret)
	if !strings.HasPrefix(newSecret, "dtd_") || newSecret == oldSecret.Reveal() || !strings.Contains(shown.Body, "Its previous secret works until") {
		t.Fatalf("after rotation: secret %q\n%s", newSecret, shown.Body)
	}
	authn := &auth.Authenticator{Store: e.store, Keys: e.keys, Now: func() time.Time { return *e.now.Load() }}
	for _, s := range []string{oldSecret.Reveal(), newSecret} {
		if p, err := authn.Check(ctx, tok.Username, s); err != nil || p.Token.ID != tok.ID {
			t.Errorf("a secret does not authenticate during the grace: %v", err)
		}
	}
	e.advance(time.Hour)
	if _, err := authn.Check(ctx, tok.Username, oldSecret.Reveal()); err == nil {
		t.Error("the old secret authenticates after the grace")
	}
	if again := b.get(settingsPath + "?flash=" + strings.TrimSuffix(flashID, "#js-deploy-tokens")); strings.Contains(again.Body, newSecret) {
		t.Error("a reload shows the new secret again")
	}
	if r := b.get(fmt.Sprintf("%s/deploy_tokens/%d/rotate", settingsPath, 999)); r.Status != 404 {
		t.Errorf("rotate page of no token: %d", r.Status)
	}
}

package web

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/auth"
	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

const settingsPath = "/tanuki/app/-/settings/repository"
const createPath = settingsPath + "/deploy_tokens"

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path string
		want route
		ok   bool
	}{
		{"/", route{kind: routeHome}, true},
		{"/users/sign_in", route{kind: routeSignIn}, true},
		{"/users/sign_out", route{kind: routeSignOut}, true},
		{"/assets/web/style.css", route{kind: routeAsset, asset: "style.css"}, true},
		{"/assets/web/nope.css", route{}, false},
		{"/assets/web/../web.go", route{}, false},
		{"/tanuki/app", route{kind: routeProject, project: "tanuki/app"}, true},
		{"/a/b/c/d", route{kind: routeProject, project: "a/b/c/d"}, true},
		{"/a/b/c/-/settings/repository", route{kind: routeSettings, project: "a/b/c"}, true},
		{"/a/b/-/settings/repository/deploy_tokens", route{kind: routeCreateToken, project: "a/b"}, true},
		{"/a/b/-/settings/repository/deploy_tokens/12/revoke", route{kind: routeRevokeToken, project: "a/b", tokenID: 12}, true},
		{"/a/b/-/settings/repository/deploy_tokens/12/rotate", route{kind: routeRotateToken, project: "a/b", tokenID: 12}, true},
		{"/groups/g/-/settings/repository/deploy_tokens/3/rotate", route{kind: routeRotateToken, group: "g", tokenID: 3}, true},
		{"/a/b/-/settings/repository/deploy_tokens/12/rotate/revoke", route{}, false},
		{"/a/b/-/settings/repository/deploy_tokens/x/rotate", route{}, false},
		{"/a/b/-/settings/repository/deploy_tokens/012/revoke", route{}, false},
		{"/a/b/-/settings/repository/deploy_tokens/0/revoke", route{}, false},
		{"/a/b/-/settings/repository/deploy_tokens/+1/revoke", route{}, false},
		{"/a/b/-/settings/repository/deploy_tokens/99999999999999999999/revoke", route{}, false},
		{"/a/b/-/settings/repository/deploy_tokens/1", route{}, false},
		{"/a/b/-/settings", route{}, false},
		{"/a/b/-/settings/repository/", route{}, false},
		{"/tanuki", route{}, false},
		{"/tanuki/app/", route{}, false},
		{"/tanuki//app", route{}, false},
		{"/tanuki/app.git", route{}, false},
		{"/../etc/passwd", route{}, false},
		{"/api/v4", route{}, false},
		{"/users/root", route{}, false},
		{"/-/health/x", route{}, false},
		{"tanuki/app", route{}, false},
		{"/tanuki/a\x00pp", route{}, false},
		{"//evil.example/x", route{}, false},
		{"/groups/corp/-/settings/repository", route{kind: routeSettings, group: "corp"}, true},
		{"/groups/corp/team/-/settings/repository/deploy_tokens", route{kind: routeCreateToken, group: "corp/team"}, true},
		{"/groups/corp/-/settings/repository/deploy_tokens/7/revoke", route{kind: routeRevokeToken, group: "corp", tokenID: 7}, true},
		{"/groups/corp", route{}, false},
		{"/groups/corp/team", route{}, false},
		{"/groups/-/settings/repository", route{}, false},
		{"/groups//-/settings/repository", route{}, false},
		{"/groups/api/-/settings/repository", route{}, false},
		{"/groups/corp/-/settings/ci_cd", route{}, false},
		{"/groups/" + strings.Repeat("a/", 21) + "-/settings/repository", route{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := parseRoute(tt.path)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("parseRoute(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLocalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/tanuki/app", "/tanuki/app"},
		{"/tanuki/app/-/settings/repository", "/tanuki/app/-/settings/repository"},
		{"/", "/"},
		{"", "/"},
		{"//evil.example/a/b", "/"},
		{"https://evil.example/a/b", "/"},
		{"/\\evil.example/a", "/"},
		{"/users/sign_out", "/"},
		{"/tanuki/app/-/settings/repository/deploy_tokens", "/"},
		{"/groups/corp/-/settings/repository", "/groups/corp/-/settings/repository"},
		{"/groups/corp/-/settings/repository/deploy_tokens", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := localPath(tt.in); got != tt.want {
				t.Fatalf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseRoute: any path parses without panicking, and whatever parses
// as a project page names a valid project path and stays on this site.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/b/-/settings/repository/deploy_tokens/1/revoke", "/groups/a/-/settings/repository", "//x", "/a/b/-/-/c", "/users/sign_in", "/assets/web/app.js"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, ok := parseRoute(p)
		if !ok {
			return
		}
		if r.project != "" && tokens.ValidateProjectPath("path", r.project) != nil {
			t.Fatalf("%q: invalid project %q accepted", p, r.project)
		}
		if r.group != "" && (r.project != "" || tokens.ValidateGroupPath("path", r.group) != nil) {
			t.Fatalf("%q: invalid group %q accepted", p, r.group)
		}
		if lp := localPath(p); !strings.HasPrefix(lp, "/") || strings.HasPrefix(lp, "//") {
			t.Fatalf("%q: localPath %q leaves the site", p, lp)
		}
	})
}

func TestSignIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	pats := e.seed()
	readRegistry := e.pat(e.userID("maint"), tokens.ScopeReadRegistry)
	readAPI := e.pat(e.userID("maint"), tokens.ScopeReadAPI)
	dt, dtSecret, err := e.svc.CreateDeployToken(context.Background(), e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "d", Scopes: []string{"read_registry"}})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, dtSecret.Reveal())

	tests := []struct {
		name, user, pat string
		status          int
		message         string
	}{
		{"api token", "maint", pats["maint"], http.StatusSeeOther, ""},
		{"username in another case", "MAINT", pats["maint"], http.StatusSeeOther, ""},
		{"read_api token", "maint", readAPI, http.StatusSeeOther, ""},
		{"wrong token", "maint", "dtp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", http.StatusUnauthorized, "Invalid username or personal access token."},
		{"another user's token", "maint", pats["dev"], http.StatusUnauthorized, "Invalid username or personal access token."},
		{"unknown user", "nobody", pats["maint"], http.StatusUnauthorized, "Invalid username or personal access token."},
		{"empty token", "maint", "", http.StatusUnprocessableEntity, "Enter your username and a personal access token."},
		{"empty username", "", pats["maint"], http.StatusUnprocessableEntity, "Enter your username and a personal access token."},
		{"a deploy token", dt.Username, dtSecret.Reveal(), http.StatusUnauthorized, "Invalid username or personal access token."},
		{"token without api scopes", "maint", readRegistry, http.StatusForbidden, "it needs the api scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			b.get("/users/sign_in")
			r := b.post("/users/sign_in", url.Values{"username": {tt.user}, "password": {tt.pat}}, true)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			ck := b.cookie(sessionCookie)
			if tt.status != http.StatusSeeOther {
				if ck != nil {
					t.Fatal("a failed sign-in set a session cookie")
				}
				if !strings.Contains(r.Body, tt.message) || inputValue(t, r.Body, "user_login") != tt.user {
					t.Fatalf("the form does not show %q with the username kept:\n%s", tt.message, r.Body)
				}
				return
			}
			if r.location() != "/" || ck == nil || !strings.HasPrefix(ck.Value, "dts_") {
				t.Fatalf("location %q, cookie %v", r.location(), ck)
			}
			// The store keeps the digest of the secret, never the secret.
			v, err := e.store.Get(context.Background(), "session:"+hex.EncodeToString(e.keys.Digest(ck.Value)))
			if err != nil || strings.Contains(string(v), ck.Value) {
				t.Fatalf("session record %q: %v", v, err)
			}
			if home := b.get("/"); home.Status != 200 || !strings.Contains(home.Body, "Signed in as <strong>maint</strong>") {
				t.Fatalf("home after sign-in: %d %s", home.Status, home.Body)
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	tests := []struct {
		name, url string
		secure    bool
	}{
		{"http", "http://deploytokens.test", false},
		{"https", "https://deploytokens.test", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{externalURL: tt.url})
			pats := e.seed()
			b := e.browser()
			b.get("/users/sign_in")
			r := b.post("/users/sign_in", url.Values{"username": {"maint"}, "password": {pats["maint"]}}, true)
			var ck *http.Cookie
			for _, c := range (&http.Response{Header: r.Header}).Cookies() {
				if c.Name == sessionCookie {
					ck = c
				}
			}
			if ck == nil {
				t.Fatalf("no session cookie: %v", r.Header)
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure != tt.secure {
				t.Fatalf("cookie %+v", ck)
			}
			if ck.MaxAge <= 0 || ck.MaxAge > int(DefaultSessionTTL.Seconds()) {
				t.Fatalf("max-age %d", ck.MaxAge)
			}
		})
	}
}

func TestRedirectsToSignIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	pats := e.seed()
	b := e.browser()
	tests := []struct{ path, location string }{
		{"/", "/users/sign_in"},
		{"/tanuki/app", "/users/sign_in?redirect_to=%2Ftanuki%2Fapp"},
		{settingsPath, "/users/sign_in?redirect_to=" + url.QueryEscape(settingsPath)},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if r := b.get(tt.path); r.Status != http.StatusSeeOther || r.location() != tt.location {
				t.Fatalf("%d %q", r.Status, r.location())
			}
		})
	}
	t.Run("back to the page after sign-in, never off site", func(t *testing.T) {
		for redirect, want := range map[string]string{settingsPath: settingsPath, "//evil.example/x/y": "/", "https://evil.example/a/b": "/"} {
			b := e.browser()
			b.get("/users/sign_in?redirect_to=" + url.QueryEscape(redirect))
			r := b.post("/users/sign_in", url.Values{"username": {"maint"}, "password": {pats["maint"]}, "redirect_to": {redirect}}, true)
			if r.location() != want {
				t.Errorf("redirect_to %q: location %q, want %q", redirect, r.location(), want)
			}
		}
	})
}

func TestSignOut(t *testing.T) {
	e, b := signedInMaintainer(t)
	secret := b.cookie(sessionCookie).Value
	b.get("/")
	if r := b.post("/users/sign_out", nil, false); r.Status != http.StatusForbidden {
		t.Fatalf("sign-out without CSRF: %d", r.Status)
	}
	if r := b.post("/users/sign_out", nil, true); r.Status != http.StatusSeeOther || r.location() != "/users/sign_in" {
		t.Fatalf("sign-out: %d %q", r.Status, r.location())
	}
	if _, err := e.store.Get(context.Background(), "session:"+hex.EncodeToString(e.keys.Digest(secret))); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("session still stored after sign-out: %v", err)
	}
	// A copy of the old cookie no longer works.
	replay := e.browser()
	u, _ := url.Parse(e.srv.URL)
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: secret, Path: "/"}})
	if r := replay.get("/"); r.Status != http.StatusSeeOther {
		t.Fatalf("old cookie after sign-out: %d", r.Status)
	}
}

// TestSessionEndsWithItsToken: a session lasts only as long as the token
// it was opened with. Revoking that token, or replacing the admin token
// (a restart with a new one: another handler on the same store), signs
// the session out on its next page.
func TestSessionEndsWithItsToken(t *testing.T) {
	ctx := context.Background()
	t.Run("revoked", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		pats := e.seed()
		b := e.browser()
		b.signIn("maint", pats["maint"])
		if r := b.get(settingsPath); r.Status != http.StatusOK {
			t.Fatalf("signed in: %d", r.Status)
		}
		secret := b.cookie(sessionCookie).Value
		tok, _, err := e.store.PATByDigest(ctx, e.keys.Digest(pats["maint"]))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.RevokePAT(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if r := b.get(settingsPath); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/users/sign_in") {
			t.Fatalf("after the token was revoked: %d %q", r.Status, r.location())
		}
		if _, err := e.store.Get(ctx, "session:"+hex.EncodeToString(e.keys.Digest(secret))); !errors.Is(err, tokens.ErrNotFound) {
			t.Errorf("session still stored: %v", err)
		}
	})
	t.Run("admin token replaced", func(t *testing.T) {
		first := newEnv(t, envOptions{})
		first.seed()
		root := first.admin.User
		const oldToken, newToken = "dtp_old-admin-token-0123456789abcdef", "dtp_new-admin-token-0123456789abcdef"
		first.secrets = append(first.secrets, oldToken, newToken)
		before := newEnv(t, envOptions{store: first.store, keys: first.keys, admin: &auth.AdminToken{Digest: first.keys.Digest(oldToken), User: root}})
		b := before.browser()
		b.signIn("root", oldToken)
		if r := b.get(settingsPath); r.Status != http.StatusOK {
			t.Fatalf("signed in with the admin token: %d", r.Status)
		}
		after := newEnv(t, envOptions{store: first.store, keys: first.keys, admin: &auth.AdminToken{Digest: first.keys.Digest(newToken), User: root}})
		replay := after.browser()
		u, _ := url.Parse(after.srv.URL)
		replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: b.cookie(sessionCookie).Value, Path: "/"}})
		if r := replay.get(settingsPath); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/users/sign_in") {
			t.Fatalf("old admin session after the token was replaced: %d %q", r.Status, r.location())
		}
	})
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, envOptions{})
	pats := e.seed()
	b := e.browser()
	b.signIn("maint", pats["maint"])
	other := e.browser()
	other.signIn("owner", pats["owner"])
	other.get(settingsPath)
	otherToken := other.csrf()
	b.get(settingsPath)
	good := url.Values{"name": {"x"}, "scopes": {"read_registry"}}

	tests := []struct {
		name  string
		token string
		site  string
	}{
		{"no token", "", ""},
		{"wrong token", strings.Repeat("0", 64), ""},
		{"another session's token", otherToken, ""},
		{"right token from another site", b.csrf(), "cross-site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"name": good["name"], "scopes": good["scopes"]}
			if tt.token != "" {
				form.Set(csrfField, tt.token)
			}
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+createPath, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.site != "" {
				req.Header.Set("Sec-Fetch-Site", tt.site)
			}
			r := b.do(req)
			if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Form expired") {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
	t.Run("sign-in form needs its token too", func(t *testing.T) {
		anon := e.browser()
		anon.get("/users/sign_in")
		if r := anon.post("/users/sign_in", url.Values{"username": {"maint"}, "password": {pats["maint"]}}, false); r.Status != http.StatusForbidden {
			t.Fatalf("%d", r.Status)
		}
	})
	t.Run("sign-in with neither cookie nor token", func(t *testing.T) {
		// A browser that never loaded the form has no pre-session cookie, so
		// the expected token is empty; an empty token must not match it, or a
		// cross-site form could sign a victim in to the attacker's account.
		fresh := e.browser()
		r := fresh.post("/users/sign_in", url.Values{"username": {"maint"}, "password": {pats["maint"]}}, false)
		if r.Status != http.StatusForbidden {
			t.Fatalf("%d", r.Status)
		}
		if c := fresh.cookie(sessionCookie); c != nil && c.Value != "" {
			t.Fatal("a session cookie was set")
		}
	})
	if n := len(e.tokens("tanuki/app")); n != 0 {
		t.Fatalf("%d tokens created by refused posts", n)
	}
	b.get(settingsPath)
	if r := b.post(createPath, good, true); r.Status != http.StatusSeeOther {
		t.Fatalf("with the token: %d %s", r.Status, r.Body)
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t, envOptions{})
	pats := e.seed()
	tests := []struct {
		user              string
		project, settings int
	}{
		{"root", 200, 200},
		{"owner", 200, 200},
		{"maint", 200, 200},
		{"dev", 200, 404},
		{"rep", 200, 404},
		{"stranger", 404, 404},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			b := e.browser()
			b.signIn(tt.user, pats[tt.user])
			p := b.get("/tanuki/app")
			if p.Status != tt.project {
				t.Fatalf("project page: %d", p.Status)
			}
			if hasLink := strings.Contains(p.Body, `id="settings-link"`); hasLink != (tt.settings == 200) {
				t.Errorf("settings link shown: %v", hasLink)
			}
			s := b.get(settingsPath)
			if s.Status != tt.settings {
				t.Fatalf("settings: %d", s.Status)
			}
			if home := b.get("/"); strings.Contains(home.Body, `href="/tanuki/app"`) != (tt.project == 200) {
				t.Errorf("home lists tanuki/app: %v", !(tt.project == 200))
			}
			if tt.settings == 404 {
				// Not even a well-formed form may create or revoke.
				b.get("/")
				if r := b.post(createPath, url.Values{"name": {"x"}, "scopes": {"read_registry"}}, true); r.Status != 404 {
					t.Fatalf("create: %d", r.Status)
				}
				if r := b.post(settingsPath+"/deploy_tokens/1/revoke", nil, true); r.Status != 404 {
					t.Fatalf("revoke: %d", r.Status)
				}
			}
		})
	}
	if n := len(e.tokens("tanuki/app")); n != 0 {
		t.Fatalf("%d tokens created by members without access", n)
	}
}

func TestProjectPage(t *testing.T) {
	e := newEnv(t, envOptions{externalURL: "https://git.example.com"})
	pats := e.seed()
	b := e.browser()
	b.signIn("dev", pats["dev"])
	r := b.get("/tanuki/app")
	for _, want := range []string{
		`value="https://git.example.com/tanuki/app.git"`,
		`value="registry.test:5000/tanuki/app"`,
		"git clone https://&lt;username&gt;:&lt;token&gt;@git.example.com/tanuki/app.git",
		"docker login registry.test:5000 -u &lt;username&gt; -p &lt;token&gt;",
		"Your role: Developer",
	} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("project page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(r.Body)
	}
}

var fieldErrorRe = regexp.MustCompile(`<p class="field-error" id="([a-z_]+)_error">([^<]*)</p>`)

func TestCreateTokenErrors(t *testing.T) {
	e, b := signedInMaintainer(t)
	yesterday := e.now.Load().AddDate(0, 0, -1).Format(time.DateOnly)
	tests := []struct {
		name   string
		form   url.Values
		errors map[string]string // input id → error shown next to it
		kept   map[string]string // input id → value kept
	}{
		{
			name:   "everything wrong at once",
			form:   url.Values{"name": {"  "}, "username": {"bad name!"}, "expires_at": {yesterday}},
			errors: map[string]string{"deploy_token_name": "Name is missing.", "deploy_token_username": "Username can contain only", "deploy_token_expires_at": "Expiration date must be in the future.", "deploy_token_scopes": "Select at least one scope."},
			kept:   map[string]string{"deploy_token_username": "bad name!", "deploy_token_expires_at": yesterday},
		},
		{
			name:   "a date that is not one",
			form:   url.Values{"name": {"ci"}, "expires_at": {"someday"}, "scopes": {"read_registry"}},
			errors: map[string]string{"deploy_token_expires_at": "Expiration date must be a date"},
			kept:   map[string]string{"deploy_token_name": "ci", "deploy_token_expires_at": "someday"},
		},
		{
			name:   "a scope that does not exist",
			form:   url.Values{"name": {"<script>x</script>"}, "scopes": {"read_registry", "api"}},
			errors: map[string]string{"deploy_token_scopes": "Scopes does not have a valid value"},
			kept:   map[string]string{"deploy_token_name": "<script>x</script>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.get(settingsPath)
			r := b.post(createPath, tt.form, true)
			if r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d", r.Status)
			}
			got := map[string]string{}
			for _, m := range fieldErrorRe.FindAllStringSubmatch(r.Body, -1) {
				got[m[1]] = m[2]
			}
			if len(got) != len(tt.errors) {
				t.Errorf("errors shown %v, want %v", got, tt.errors)
			}
			for id, want := range tt.errors {
				if !strings.Contains(htmlUnescape(got[id]), want) {
					t.Errorf("error next to %s = %q, want %q", id, got[id], want)
				}
				if id != "deploy_token_scopes" && !regexp.MustCompile(`id="`+id+`"[^>]*aria-describedby="[^"]*`+id+`_error"[^>]*aria-invalid="true"`).MatchString(r.Body) {
					t.Errorf("input %s is not marked invalid and tied to its error", id)
				}
			}
			for id, want := range tt.kept {
				if v := inputValue(t, r.Body, id); v != want {
					t.Errorf("%s kept as %q, want %q", id, v, want)
				}
			}
			if strings.Contains(r.Body, "<script>x</script>") {
				t.Error("input is not escaped")
			}
			if !strings.Contains(r.Body, `<details id="deploy-tokens" open>`) {
				t.Error("the section is not expanded to show the errors")
			}
		})
	}
	if n := len(e.tokens("tanuki/app")); n != 0 {
		t.Fatalf("%d tokens saved from invalid forms", n)
	}
	t.Run("checked scopes stay checked", func(t *testing.T) {
		b.get(settingsPath)
		r := b.post(createPath, url.Values{"name": {""}, "scopes": {"read_repository", "write_registry"}}, true)
		for scope, checked := range map[string]bool{"read_repository": true, "read_registry": false, "write_registry": true} {
			re := regexp.MustCompile(`<input type="checkbox" id="deploy_token_` + scope + `"[^>]* checked`)
			if re.MatchString(r.Body) != checked {
				t.Errorf("%s checked = %v", scope, !checked)
			}
		}
	})
}

func htmlUnescape(s string) string { return html.UnescapeString(s) }

func TestTokenShownOnce(t *testing.T) {
	e, b := signedInMaintainer(t)
	authn := &auth.Authenticator{Store: e.store, Keys: e.keys}
	b.get(settingsPath)
	if strings.Contains(b.last, `<details id="deploy-tokens" open>`) {
		t.Fatal("the Deploy tokens section starts expanded")
	}
	expiry := e.now.Load().AddDate(0, 1, 0).Format(time.DateOnly)
	r := b.post(createPath, url.Values{"name": {"ci puller"}, "expires_at": {expiry}, "scopes": {"read_registry"}}, true)
	flashID, found := strings.CutPrefix(r.location(), settingsPath+"?flash=")
	flashID, hash := strings.CutSuffix(flashID, "#js-deploy-tokens")
	if r.Status != http.StatusSeeOther || !found || !hash || !validFlashID(flashID) {
		t.Fatalf("create: %d %q %s", r.Status, r.location(), r.Body)
	}
	ts := e.tokens("tanuki/app")
	if len(ts) != 1 || ts[0].Name != "ci puller" || ts[0].ExpiresAt.Format(time.DateOnly) != expiry || ts[0].ExpiresAt.Hour() != 0 {
		t.Fatalf("stored %+v", ts)
	}
	// Between the POST and the page, the store holds the secret only sealed.
	flashRaw, err := e.store.Get(context.Background(), "flash:"+hex.EncodeToString(e.keys.Digest(b.cookie(sessionCookie).Value+"\x00"+flashID)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(flashRaw), "dtd_") {
		t.Fatal("the flash holds the token in clear")
	}

	if plain := b.get(settingsPath); strings.Contains(plain.Body, `id="deploy-token"`) {
		t.Fatal("the settings page without the flash id shows the token")
	}
	page := b.get(settingsPath + "?flash=" + flashID)
	username, secret := inputValue(t, page.Body, "deploy-token-user"), inputValue(t, page.Body, "deploy-token")
	e.secrets = append(e.secrets, secret)
	if page.Status != 200 || username != ts[0].Username || !strings.HasPrefix(secret, "dtd_") {
		t.Fatalf("%d username %q secret %q", page.Status, username, secret)
	}
	for _, want := range []string{
		"Save the deploy token somewhere safe. Once you leave or refresh the page, you won't be able to access it again.",
		`<details id="deploy-tokens" open>`,
		`data-copy="deploy-token"`,
	} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if cc := page.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if p, err := authn.Check(context.Background(), username, secret); err != nil || p.Kind != auth.DeployTokenKind {
		t.Fatalf("the shown token does not authenticate: %v", err)
	}
	active := htmlUnescape(regexp.MustCompile(`(?s)<table id="active-deploy-tokens".*?</table>`).FindString(page.Body))
	for _, want := range []string{"ci puller", username, "read_registry", expiry} {
		if !strings.Contains(active, want) {
			t.Errorf("active tokens table lacks %q:\n%s", want, active)
		}
	}

	again := b.get(settingsPath + "?flash=" + flashID)
	if strings.Contains(again.Body, secret) || strings.Contains(again.Body, `id="deploy-token"`) {
		t.Fatal("a reload shows the token again")
	}
	if !strings.Contains(htmlUnescape(again.Body), username) {
		t.Fatal("the token is no longer listed")
	}
}

// Replicas of earlier versions kept one flash per session, at a key of the
// session alone, and redirected to the settings page without a flash id;
// before that version sealed it with SealFor, the one before with the
// server key (the session secret as additional data). During a rolling
// upgrade the new token's secret is still shown, once, whichever wrote it.
func TestFlashOfEarlierVersions(t *testing.T) {
	for name, seal := range map[string]func(k *tokens.Keys, plain tokens.Secret, session string) ([]byte, error){
		"server key": func(k *tokens.Keys, plain tokens.Secret, session string) ([]byte, error) {
			return k.Seal(plain, "web-flash\x00"+session)
		},
		"session key": func(k *tokens.Keys, plain tokens.Secret, session string) ([]byte, error) {
			return k.SealFor(plain, session, "web-flash")
		},
	} {
		t.Run(name, func(t *testing.T) {
			e, b := signedInMaintainer(t)
			b.get(settingsPath)
			r := b.post(createPath, url.Values{"name": {"rolling"}, "scopes": {"read_registry"}}, true)
			flashID, _ := strings.CutSuffix(strings.TrimPrefix(r.location(), settingsPath+"?flash="), "#js-deploy-tokens")
			ctx, session := context.Background(), b.cookie(sessionCookie).Value
			key := "flash:" + hex.EncodeToString(e.keys.Digest(session+"\x00"+flashID))
			sealed, err := e.store.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.keys.Open(sealed, "web-flash\x00"+session); err == nil {
				t.Fatal("the server key alone opens the flash")
			}
			plain, err := e.keys.OpenFor(sealed, session, "web-flash")
			if err != nil {
				t.Fatal(err)
			}
			old, err := seal(e.keys, plain, session)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if err := e.store.Create(ctx, "flash:"+hex.EncodeToString(e.keys.Digest(session)), old, time.Minute); err != nil {
				t.Fatal(err)
			}
			page := b.get(settingsPath)
			secret := inputValue(t, page.Body, "deploy-token")
			e.secrets = append(e.secrets, secret)
			if !strings.HasPrefix(secret, "dtd_") || !strings.Contains(plain.Reveal(), secret) {
				t.Fatalf("the old flash shows %q", secret)
			}
			if again := b.get(settingsPath); strings.Contains(again.Body, secret) {
				t.Fatal("the old flash is shown twice")
			}
		})
	}
}

// Several creates at once from one session each get their own flash: no
// 5xx, and every new token's secret is shown once, on its own page.
func TestConcurrentCreatesFromOneSession(t *testing.T) {
	e, b := signedInMaintainer(t)
	b.get(settingsPath)
	const n = 12
	locs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := b.post(createPath, url.Values{"name": {fmt.Sprintf("parallel %d", i)}, "scopes": {"read_registry"}}, true)
			if r.Status != http.StatusSeeOther {
				t.Errorf("create %d: %d %s", i, r.Status, r.Body)
			}
			locs[i] = r.location()
		})
	}
	wg.Wait()
	shown := map[string]bool{}
	for _, loc := range locs {
		page := b.get(strings.TrimSuffix(loc, "#js-deploy-tokens"))
		secret := inputValue(t, page.Body, "deploy-token")
		e.secrets = append(e.secrets, secret)
		shown[secret] = true
	}
	ts := e.tokens("tanuki/app")
	active := 0
	for _, tk := range ts {
		if !tk.Revoked {
			active++
		}
	}
	if len(shown) != n || len(ts) != n || active != n {
		t.Fatalf("%d secrets shown, %d tokens, %d active; want %d of each", len(shown), len(ts), active, n)
	}
}

// TestFlashShownOnceToRacingRequests: two loads of the page a create
// redirects to (a double click, a browser's prefetch) race for its flash;
// one shows the secret, the others a page without it.
func TestFlashShownOnceToRacingRequests(t *testing.T) {
	e, b := signedInMaintainer(t)
	b.get(settingsPath)
	r := b.post(createPath, url.Values{"name": {"raced"}, "scopes": {"read_registry"}}, true)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	loc := strings.TrimSuffix(r.location(), "#js-deploy-tokens")
	const n = 8
	pages := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { pages[i] = b.get(loc) })
	}
	wg.Wait()
	shown := 0
	for _, p := range pages {
		if p.Status != http.StatusOK {
			t.Errorf("GET %s: %d %s", loc, p.Status, p.Body)
		}
		if strings.Contains(p.Body, `id="deploy-token"`) {
			shown++
			e.secrets = append(e.secrets, inputValue(t, p.Body, "deploy-token"))
		}
	}
	if shown != 1 {
		t.Errorf("the secret was shown %d times, want once", shown)
	}
}

func TestRevoke(t *testing.T) {
	e := newEnv(t, envOptions{})
	pats := e.seed()
	ctx := context.Background()
	keep, _, _ := e.svc.CreateDeployToken(ctx, e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "keep", Scopes: []string{"read_repository"}})
	gone, goneSecret, _ := e.svc.CreateDeployToken(ctx, e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "gone", Scopes: []string{"read_registry"}})
	soon, _, _ := e.svc.CreateDeployToken(ctx, e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "soon", Scopes: []string{"read_registry"},
		ExpiresAt: e.now.Load().AddDate(0, 0, 2).Format(time.DateOnly)})
	other, _, _ := e.svc.CreateDeployToken(ctx, e.admin, "tanuki/sub/open", tokens.CreateDeployTokenInput{Name: "other", Scopes: []string{"read_registry"}})
	e.secrets = append(e.secrets, goneSecret.Reveal())
	b := e.browser()
	b.signIn("maint", pats["maint"])
	revokePath := fmt.Sprintf("%s/deploy_tokens/%d/revoke", settingsPath, gone.ID)

	confirm := b.get(revokePath)
	if confirm.Status != 200 || !strings.Contains(confirm.Body, `id="confirm-revoke"`) || !strings.Contains(confirm.Body, "gone") {
		t.Fatalf("confirm page: %d %s", confirm.Status, confirm.Body)
	}
	if r := b.post(revokePath, nil, false); r.Status != http.StatusForbidden {
		t.Fatalf("revoke without CSRF: %d", r.Status)
	}
	b.get(revokePath)
	if r := b.post(revokePath, nil, true); r.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if _, err := (&auth.Authenticator{Store: e.store, Keys: e.keys}).Check(ctx, gone.Username, goneSecret.Reveal()); !errors.Is(err, auth.ErrDenied) {
		t.Fatalf("revoked token still authenticates: %v", err)
	}
	t.Run("another project's token is not found here", func(t *testing.T) {
		b.get(settingsPath)
		if r := b.post(fmt.Sprintf("%s/deploy_tokens/%d/revoke", settingsPath, other.ID), nil, true); r.Status != 404 {
			t.Fatalf("%d", r.Status)
		}
		if r := b.get(fmt.Sprintf("%s/deploy_tokens/%d/revoke", settingsPath, 999)); r.Status != 404 {
			t.Fatalf("%d", r.Status)
		}
	})
	e.advance(72 * time.Hour)
	page := b.get(settingsPath)
	active := regexp.MustCompile(`(?s)<table id="active-deploy-tokens".*?</table>`).FindString(page.Body)
	inactive := regexp.MustCompile(`(?s)<table id="inactive-deploy-tokens".*?</table>`).FindString(page.Body)
	row := func(table string, id int64) string {
		return regexp.MustCompile(fmt.Sprintf(`(?s)<tr data-token-id="%d">.*?</tr>`, id)).FindString(table)
	}
	if row(active, keep.ID) == "" || !strings.Contains(row(active, keep.ID), "Never") {
		t.Errorf("keep is not active with no expiry:\n%s", active)
	}
	if r := row(inactive, gone.ID); !strings.Contains(r, "Revoked") {
		t.Errorf("gone is not listed as revoked:\n%s", inactive)
	}
	if r := row(inactive, soon.ID); !strings.Contains(r, "Expired") {
		t.Errorf("soon is not listed as expired:\n%s", inactive)
	}
	if row(active, gone.ID) != "" || row(active, soon.ID) != "" || strings.Contains(inactive, "/revoke") {
		t.Error("inactive tokens are offered for revocation")
	}
	if r := b.get(revokePath); r.Status != http.StatusSeeOther {
		t.Errorf("confirm page of a revoked token: %d", r.Status)
	}
}

func TestReadOnlySession(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.seed()
	b := e.browser()
	b.signIn("maint", e.pat(e.userID("maint"), tokens.ScopeReadAPI))
	page := b.get(settingsPath)
	if page.Status != 200 || strings.Contains(page.Body, `id="new-deploy-token-form"`) {
		t.Fatalf("read-only settings page: %d", page.Status)
	}
	if r := b.post(createPath, url.Values{"name": {"x"}, "scopes": {"read_registry"}}, true); r.Status != http.StatusForbidden {
		t.Fatalf("create with read_api: %d", r.Status)
	}
	if n := len(e.tokens("tanuki/app")); n != 0 {
		t.Fatal("a read_api session created a token")
	}

	// Revoking is a change too: with a valid CSRF token, so only the
	// session's read_api scope can be why it is refused.
	tok, _, err := e.svc.CreateDeployToken(context.Background(), e.admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "keep", Scopes: []string{"read_registry"}})
	if err != nil {
		t.Fatal(err)
	}
	revokePath := fmt.Sprintf("%s/deploy_tokens/%d/revoke", settingsPath, tok.ID)
	b.get(settingsPath)
	r := b.post(revokePath, nil, true)
	if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "Read-only session") {
		t.Fatalf("revoke with read_api: %d %s", r.Status, r.Body)
	}
	ts := e.tokens("tanuki/app")
	if len(ts) != 1 || !ts[0].Active(*e.now.Load()) {
		t.Fatalf("a read_api session revoked a token: %+v", ts)
	}
}

// TestBadInput: nothing a browser can send makes a 5xx.
func TestBadInput(t *testing.T) {
	e, b := signedInMaintainer(t)
	b.get(settingsPath)
	csrf := b.csrf()
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"unknown page", "GET", "/nope", "", 404},
		{"unknown project", "GET", "/tanuki/nope", "", 404},
		{"unknown project settings", "GET", "/tanuki/nope/-/settings/repository", "", 404},
		{"unknown page under a project", "GET", "/tanuki/app/-/settings/ci_cd", "", 404},
		{"dot segments", "GET", "/tanuki/../app", "", 404},
		{"encoded slash", "GET", "/tanuki%2Fapp", "", 200},
		{"nul byte", "GET", "/tanuki/a%00pp", "", 404},
		{"too deep", "GET", strings.Repeat("/a", 30), "", 404},
		{"very long", "GET", "/a/" + strings.Repeat("b", 5000), "", 404},
		{"not a token id", "GET", settingsPath + "/deploy_tokens/abc/revoke", "", 404},
		{"unknown token", "GET", settingsPath + "/deploy_tokens/424242/revoke", "", 404},
		{"wrong method", "PUT", settingsPath, "", 405},
		{"GET a POST route", "GET", createPath, "", 405},
		{"huge form", "POST", createPath, "authenticity_token=" + csrf + "&name=" + strings.Repeat("x", 100<<10), 413},
		{"broken form encoding", "POST", createPath, "authenticity_token=" + csrf + "&name=%zz", 400},
		{"name too long", "POST", createPath, "authenticity_token=" + csrf + "&scopes=read_registry&name=" + strings.Repeat("x", 300), 422},
		{"invalid UTF-8", "POST", createPath, "authenticity_token=" + csrf + "&scopes=read_registry&name=%ff%fe", 422},
		{"control characters", "POST", createPath, "authenticity_token=" + csrf + "&scopes=read_registry&name=a%0Ab&username=a%0Ab", 422},
		{"year 10000", "POST", createPath, "authenticity_token=" + csrf + "&scopes=read_registry&name=a&expires_at=10000-01-01", 422},
		{"name twice", "POST", createPath, "authenticity_token=" + csrf + "&scopes=read_registry&name=first&name=second", 400},
		{"expiry twice", "POST", createPath, "authenticity_token=" + csrf + "&scopes=read_registry&name=a&expires_at=2090-01-01&expires_at=2091-01-01", 400},
		{"bidi override", "POST", createPath, "authenticity_token=" + csrf + "&scopes=read_registry&name=a%E2%80%AEb", 422},
		{"JSON body", "POST", createPath, `{"authenticity_token":"` + csrf + `","name":"a","scopes":["read_registry"]}`, 415}, // sent as JSON
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if strings.HasPrefix(tt.body, "{") {
				req.Header.Set("Content-Type", "application/json")
			}
			r := b.do(req)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d", r.Status, tt.status)
			}
			if tt.status == 405 && r.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
				t.Errorf("content type %q", r.Header.Get("Content-Type"))
			}
		})
	}
	// A form the server would misread: compressed, or in another charset.
	for _, h := range []http.Header{
		{"Content-Type": {"application/x-www-form-urlencoded"}, "Content-Encoding": {"gzip"}},
		{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-16"}},
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+createPath, strings.NewReader("authenticity_token="+csrf+"&scopes=read_registry&name=enc"))
		maps.Copy(req.Header, h)
		if r := b.do(req); r.Status != 415 || !strings.Contains(r.Body, "not supported") {
			t.Errorf("%v: %d %s", h, r.Status, r.Body)
		}
	}
	if n := len(e.tokens("tanuki/app")); n != 0 {
		t.Fatalf("%d tokens created from bad input", n)
	}
}

func TestPagesAndAssets(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	signin := b.get("/users/sign_in")
	h := signin.Header
	if h.Get("Cache-Control") != "no-store" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers %v", h)
	}
	for _, want := range []string{`<meta name="viewport"`, `<label for="user_login">`, `<label for="user_password">`, `lang="en"`} {
		if !strings.Contains(signin.Body, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
	// Every asset the layout links is served with its type.
	for _, m := range regexp.MustCompile(`(?:href|src)="(/assets/web/[^"]+)"`).FindAllStringSubmatch(signin.Body, -1) {
		r := b.get(htmlUnescape(m[1]))
		if r.Status != 200 || r.Body == "" || !strings.Contains(r.Header.Get("Content-Type"), map[bool]string{true: "text/css", false: "text/javascript"}[strings.Contains(m[1], ".css")]) {
			t.Errorf("%s: %d %q", m[1], r.Status, r.Header.Get("Content-Type"))
		}
	}
	if r := b.get("/assets/web/missing.css"); r.Status != 404 {
		t.Errorf("missing asset: %d", r.Status)
	}
}

func TestSignInFailuresAreLimited(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.h.Limiter = &auth.Limiter{KV: e.store, Max: 3, Window: time.Minute, Ban: time.Hour, Logger: e.h.Logger}
	pats := e.seed()
	b := e.browser()
	b.get("/users/sign_in")
	for i := range 3 {
		if r := b.post("/users/sign_in", url.Values{"username": {"maint"}, "password": {"dtp_wrong"}}, true); r.Status != 401 {
			t.Fatalf("failure %d: %d", i+1, r.Status)
		}
	}
	r := b.post("/users/sign_in", url.Values{"username": {"maint"}, "password": {pats["maint"]}}, true)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("banned address: %d %v", r.Status, r.Header)
	}
}

// TestSignInWithInvalidText: a username or token that is not UTF-8, a
// username with a NUL or line break, or an empty field is bad input,
// answered on the sign-in form, and no failed sign-in: a client that sends
// it more often than the limit is not banned.
func TestSignInWithInvalidText(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.h.Limiter = &auth.Limiter{KV: e.store, Max: 3, Window: time.Minute, Ban: time.Hour, Logger: e.h.Logger}
	pats := e.seed()
	b := e.browser()
	for i, f := range []url.Values{
		{"username": {"ma\xffint"}, "password": {pats["maint"]}},
		{"username": {"maint"}, "password": {"dtp_\xfe"}},
		{"username": {"\xc0\xaf"}, "password": {"x"}},
		{"username": {"ma\x00int"}, "password": {"x"}},
	} {
		b.get("/users/sign_in")
		r := b.post("/users/sign_in", f, true)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "not valid UTF-8") {
			t.Fatalf("form %d: %d %s", i, r.Status, r.Body)
		}
	}
	for i, f := range []url.Values{{"username": {""}, "password": {"x"}}, {"username": {"maint"}}, {}} {
		b.get("/users/sign_in")
		if r := b.post("/users/sign_in", f, true); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("empty form %d: %d %s", i, r.Status, r.Body)
		}
	}
	b.signIn("maint", pats["maint"])
}

// TestSessionsSharedByReplicas: two handlers on one real Redis are two
// replicas; a session opened on one works on the other, and signing out on
// either ends it on both.
func TestSessionsSharedByReplicas(t *testing.T) {
	redisURL := testenv.StartRedis(t)
	open := func() tokens.Store {
		s, err := redisstore.New(context.Background(), redisstore.Options{URL: redisURL, Prefix: "webtest:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := newEnv(t, envOptions{store: open()})
	pats := a.seed()
	replica := newEnv(t, envOptions{store: open(), keys: a.keys})
	b := a.browser()
	b.signIn("maint", pats["maint"])
	secret := b.cookie(sessionCookie).Value

	onReplica := replica.browser()
	u, _ := url.Parse(replica.srv.URL)
	onReplica.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: secret, Path: "/"}})
	if r := onReplica.get(settingsPath); r.Status != 200 {
		t.Fatalf("session on the replica: %d", r.Status)
	}
	if r := onReplica.post("/users/sign_out", nil, true); r.Status != http.StatusSeeOther {
		t.Fatalf("sign out on the replica: %d", r.Status)
	}
	if r := b.get(settingsPath); r.Status != http.StatusSeeOther {
		t.Fatalf("session still works on the first replica after sign-out: %d", r.Status)
	}
}

// TestSessionCookieEndsWithItsToken: a session opened with a PAT that expires in
// an hour gets a cookie of an hour, not the 12 of a session.
func TestSessionCookieEndsWithItsToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.seed()
	// An hour before midnight UTC: a PAT expiring "tomorrow" has an hour.
	now := time.Date(2031, 5, 4, 23, 0, 0, 0, time.UTC)
	e.now.Store(&now)
	_, secret, err := e.svc.CreatePAT(context.Background(), e.admin, e.userID("maint"),
		tokens.CreatePATInput{Name: "short", Scopes: []string{tokens.ScopeAPI}, ExpiresAt: "2031-05-05"})
	if err != nil {
		t.Fatal(err)
	}
	e.secrets = append(e.secrets, secret.Reveal())
	b := e.browser()
	b.get("/users/sign_in")
	r := b.post("/users/sign_in", url.Values{"username": {"maint"}, "password": {secret.Reveal()}}, true)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	var maxAge int
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == sessionCookie {
			maxAge = c.MaxAge
		}
	}
	if maxAge <= 0 || maxAge > 3600 {
		t.Fatalf("session cookie Max-Age = %d; want at most the token's hour", maxAge)
	}
}

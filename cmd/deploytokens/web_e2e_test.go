package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// chromiumBin answers the system's Chromium; the test fails without it
// (the Makefile installs the Debian package chromium).
func chromiumBin(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("web e2e: chromium is not on PATH (install the Debian package chromium: apt-get install chromium)")
	return ""
}

// screenshotDir answers <repo>/testout/web, created, where the browser
// tests leave a PNG of each step for people to look at.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("web e2e: no go.mod above the test's directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "testout", "web")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// startChromium starts a headless Chromium with a fresh profile that talks
// to nothing but loopback, and answers its root context; it stops with t.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumBin(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("metrics-recording-only", true),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("web e2e: start chromium: %v", err)
	}
	return ctx
}

// page is one browser tab (with its own cookies when opened with
// newPage) driving the server at base.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

func newPage(t *testing.T, browser context.Context, base, dir string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return &page{t: t, ctx: ctx, base: base, dir: dir}
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// load runs steps that navigate and answers the new page's HTTP status.
func (p *page) load(steps ...chromedp.Action[chromedp.Void]) int64 {
	p.t.Helper()
	resp, err := chromedp.RunResponse(p.ctx, steps...)
	if err != nil {
		p.t.Fatalf("browser: %v", err)
	}
	return resp.Status
}

func (p *page) open(path string) int64 {
	p.t.Helper()
	return p.load(chromedp.Navigate(p.base + path))
}

func (p *page) html() string {
	p.t.Helper()
	return read(p, chromedp.Evaluate[string](`document.documentElement.outerHTML`), "html")
}

func (p *page) text(sel string) string {
	p.t.Helper()
	return read(p, chromedp.Text(chromedp.CSS(sel)), "text of "+sel)
}

func (p *page) value(sel string) string {
	p.t.Helper()
	return read(p, chromedp.Value(chromedp.CSS(sel)), "value of "+sel)
}

func (p *page) eval(js string) bool {
	p.t.Helper()
	return read(p, chromedp.Evaluate[bool](js), js)
}

// flashPage is where a create or a revoke lands, after the settings page's
// path: its own flash, the deploy tokens section.
var flashPage = regexp.MustCompile(`^\?flash=[0-9a-f]{32}#js-deploy-tokens$`)

func (p *page) path() string {
	p.t.Helper()
	return strings.TrimPrefix(read(p, chromedp.Location(), "location"), p.base)
}

// read runs a query. Right after a navigation the browser may still
// swap the old document for the new one, and a query that found a node of
// the old one fails; it is tried again on the new one.
func read[T any](p *page, a chromedp.Action[T], what string) T {
	p.t.Helper()
	var err error
	for range 5 {
		var v T
		if v, err = chromedp.Run(p.ctx, a); err == nil {
			return v
		}
		if !strings.Contains(err.Error(), "No node with given id") && !strings.Contains(err.Error(), "Cannot find context") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("browser: %s: %v", what, err)
	var zero T
	return zero
}

// shot saves a full-page PNG as name.png.
func (p *page) shot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("browser: screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// signIn signs in through the form and answers the session cookie.
func (p *page) signIn(user, pat string) string {
	p.t.Helper()
	if st := p.open("/users/sign_in"); st != 200 {
		p.t.Fatalf("sign-in page: %d", st)
	}
	p.do(chromedp.SendKeys(chromedp.ID("user_login"), user), chromedp.SendKeys(chromedp.ID("user_password"), pat))
	if st := p.load(chromedp.Click(chromedp.ID("sign-in"))); st != 200 {
		p.t.Fatalf("sign in as %s: %d\n%s", user, st, p.html())
	}
	r, err := chromedp.Run(p.ctx, func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{p.base}})
	})
	if err != nil {
		p.t.Fatal(err)
	}
	for _, c := range r.Cookies {
		if c.Name == "_deploytokens_session" {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				p.t.Errorf("session cookie %+v", c)
			}
			return c.Value
		}
	}
	p.t.Fatal("no session cookie after sign-in")
	return ""
}

// TestWebDeployTokensEndToEnd follows the seed's "Creating a Deploy Token"
// and "Revoking a deploy token" in a real browser, and uses the token with
// the real registry and podman.
func TestWebDeployTokensEndToEnd(t *testing.T) {
	browser := startChromium(t)
	e := startRegistryEnv(t, nil)
	s := e.s
	maintID, maintPAT := s.user(t, "maint")
	s.member(t, "tanuki/app", maintID, 40)
	dir := screenshotDir(t)
	p := newPage(t, browser, s.URL, dir)
	settings := "/tanuki/app/-/settings/repository"

	t.Run("1 sign in", func(t *testing.T) {
		if st := p.open("/"); st != 200 || p.path() != "/users/sign_in" {
			t.Fatalf("signed out /: %d at %s", st, p.path())
		}
		p.shot("01-signin")
		s.remember(p.signIn("maint", maintPAT))
		if p.path() != "/" || !strings.Contains(p.text("#projects"), "tanuki/app") {
			t.Fatalf("after sign-in: %s\n%s", p.path(), p.html())
		}
		if strings.Contains(p.text("#projects"), "other/app") {
			t.Fatal("lists a private project maint is no member of")
		}
		p.shot("02-projects")
	})
	t.Run("2 project page shows how to use it", func(t *testing.T) {
		if st := p.load(chromedp.Click(chromedp.CSS(`#projects a[href="/tanuki/app"]`))); st != 200 {
			t.Fatalf("project page: %d", st)
		}
		if v := p.value("#clone-url"); v != "http://"+s.Host+"/tanuki/app.git" {
			t.Errorf("clone URL %q", v)
		}
		if got := p.text("#usage-git"); got != "git clone http://<username>:<token>@"+s.Host+"/tanuki/app.git" {
			t.Errorf("git usage %q", got)
		}
		if got := p.text("#usage-docker"); !strings.HasPrefix(got, "docker login "+s.cfg.RegistryHost+" -u <username> -p <token>") {
			t.Errorf("docker usage %q", got)
		}
		p.shot("03-project")
	})
	t.Run("3 expand Deploy tokens with the keyboard", func(t *testing.T) {
		if st := p.load(chromedp.Click(chromedp.ID("settings-link"))); st != 200 || p.path() != settings {
			t.Fatalf("settings: %d at %s", st, p.path())
		}
		if p.eval(`document.getElementById("deploy-tokens").open`) {
			t.Fatal("Deploy tokens starts expanded")
		}
		p.shot("04-settings-collapsed")
		p.do(chromedp.Focus(chromedp.CSS("#deploy-tokens > summary")), chromedp.KeyEvent("\r"))
		if !p.eval(`document.getElementById("deploy-tokens").open`) {
			t.Fatal("Enter on the summary did not expand Deploy tokens")
		}
		if help := p.text("#deploy_token_expires_at_help"); !strings.Contains(help, "00:00 UTC") {
			t.Errorf("expiry help %q", help)
		}
		p.shot("05-settings-expanded")
	})
	t.Run("4 a form error shows next to its field, input kept", func(t *testing.T) {
		p.do(chromedp.SendKeys(chromedp.ID("deploy_token_name"), "ci puller"))
		if st := p.load(chromedp.Click(chromedp.ID("create-deploy-token"))); st != http.StatusUnprocessableEntity {
			t.Fatalf("no scope: %d", st)
		}
		if got := p.text("#deploy_token_scopes_error"); got != "Select at least one scope." {
			t.Errorf("scopes error %q", got)
		}
		if v := p.value("#deploy_token_name"); v != "ci puller" {
			t.Errorf("name kept as %q", v)
		}
		p.shot("06-form-error")
	})
	var username, token string
	expiry := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	t.Run("5 create with an expiry and read_registry; shown once", func(t *testing.T) {
		p.do(chromedp.SetValue(chromedp.ID("deploy_token_expires_at"), expiry), chromedp.Click(chromedp.ID("deploy_token_read_registry")))
		if st := p.load(chromedp.Click(chromedp.ID("create-deploy-token"))); st != 200 || !flashPage.MatchString(strings.TrimPrefix(p.path(), settings)) {
			t.Fatalf("create: %d at %s", st, p.path())
		}
		username, token = p.value("#deploy-token-user"), p.value("#deploy-token")
		s.remember(token)
		if !strings.HasPrefix(username, "gitlab+deploy-token-") || !strings.HasPrefix(token, "dtd_") {
			t.Fatalf("username %q token %q", username, token)
		}
		if w := p.text("#deploy-token-warning"); w != "Save the deploy token somewhere safe. Once you leave or refresh the page, you won't be able to access it again." {
			t.Errorf("warning %q", w)
		}
		if p.eval(`document.querySelector('[data-copy="deploy-token"]').hidden`) {
			t.Error("the copy button stays hidden with JavaScript on")
		}
		row := p.text("#active-deploy-tokens tbody tr")
		for _, want := range []string{"ci puller", username, "read_registry"} {
			if !strings.Contains(row, want) {
				t.Errorf("active row %q lacks %q", row, want)
			}
		}
		if dt, _ := time.Parse(time.DateOnly, expiry); !strings.Contains(row, dt.Format("Jan 2, 2006")) {
			t.Errorf("active row %q lacks the expiry %s", row, expiry)
		}
		p.shot("07-token-created")
	})
	t.Run("6 the token pulls with podman", func(t *testing.T) {
		pm := testenv.Podman(t)
		if err := pm.Login(e.reg.Host(), username, token); err != nil {
			t.Fatalf("podman login with the page's token: %v", err)
		}
		if err := pm.Pull(e.ref("tanuki/app:v1")); err != nil {
			t.Fatalf("pull: %v", err)
		}
	})
	t.Run("7 a reload does not show it again", func(t *testing.T) {
		if st := p.load(chromedp.Reload()); st != 200 {
			t.Fatalf("reload: %d", st)
		}
		if h := p.html(); strings.Contains(h, token) || strings.Contains(h, `id="deploy-token"`) {
			t.Fatal("the token is on the page after a reload")
		}
		p.do(chromedp.Click(chromedp.CSS("#deploy-tokens > summary")))
		if !strings.Contains(p.text("#active-deploy-tokens"), username) {
			t.Fatal("the token is no longer listed")
		}
		p.shot("08-after-reload")
	})
	t.Run("8 revoke, confirming", func(t *testing.T) {
		if !p.eval(`document.getElementById("deploy-tokens").open`) {
			p.do(chromedp.Click(chromedp.CSS("#deploy-tokens > summary")))
		}
		if st := p.load(chromedp.Click(chromedp.CSS("#active-deploy-tokens a.btn-danger"))); st != 200 {
			t.Fatalf("confirm page: %d", st)
		}
		if h := p.text("h1"); !strings.Contains(h, "Revoke deploy token ci puller?") {
			t.Fatalf("confirm page heading %q", h)
		}
		p.shot("09-revoke-confirm")
		if st := p.load(chromedp.Click(chromedp.ID("confirm-revoke"))); st != 200 || !flashPage.MatchString(strings.TrimPrefix(p.path(), settings)) {
			t.Fatalf("revoke: %d at %s", st, p.path())
		}
		if n := p.text("#flash-notice"); !strings.Contains(n, "Revoked deploy token ci puller") {
			t.Errorf("notice %q", n)
		}
		if row := p.text("#inactive-deploy-tokens tbody tr"); !strings.Contains(row, username) || !strings.Contains(row, "Revoked") {
			t.Errorf("inactive row %q", row)
		}
		if strings.Contains(p.html(), `id="active-deploy-tokens"`) {
			t.Error("the revoked token is still listed as active")
		}
		p.shot("10-revoked")
	})
	t.Run("9 the revoked token no longer logs in", func(t *testing.T) {
		if err := testenv.Podman(t).Login(e.reg.Host(), username, token); err == nil {
			t.Fatal("podman login worked with a revoked token")
		}
	})
	t.Run("10 a form without its CSRF token is refused", func(t *testing.T) {
		p.open(settings)
		p.do(chromedp.Click(chromedp.CSS("#deploy-tokens > summary")),
			chromedp.SendKeys(chromedp.ID("deploy_token_name"), "forged"),
			chromedp.Click(chromedp.ID("deploy_token_read_registry")))
		p.eval(`document.querySelector('#new-deploy-token-form input[name="authenticity_token"]').remove(), true`)
		if st := p.load(chromedp.Click(chromedp.ID("create-deploy-token"))); st != http.StatusForbidden {
			t.Fatalf("POST without CSRF token: %d", st)
		}
		p.shot("11-csrf-refused")
		p.open(settings)
		if strings.Contains(p.html(), "forged") {
			t.Fatal("the refused form created a token")
		}
	})
	t.Run("11 phone width", func(t *testing.T) {
		p.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		p.open(settings)
		p.do(chromedp.Click(chromedp.CSS("#deploy-tokens > summary")))
		if p.eval(`document.documentElement.scrollWidth > window.innerWidth`) {
			t.Error("the settings page scrolls sideways at phone width")
		}
		p.shot("12-phone-settings")
		p.do(chromedp.EmulateViewport(1280, 900))
	})
	t.Run("12 sign out, then a developer gets 404 on settings", func(t *testing.T) {
		if st := p.load(chromedp.Click(chromedp.ID("sign-out"))); st != 200 || p.path() != "/users/sign_in" {
			t.Fatalf("sign out: %d at %s", st, p.path())
		}
		if st := p.open(settings); p.path() != "/users/sign_in?redirect_to="+strings.ReplaceAll(settings, "/", "%2F") {
			t.Fatalf("settings after sign-out: %d at %s", st, p.path())
		}
		s.remember(p.signIn("dev", e.dev))
		if st := p.open("/tanuki/app"); st != 200 || strings.Contains(p.html(), `id="settings-link"`) {
			t.Fatalf("developer's project page: %d", st)
		}
		if st := p.open(settings); st != http.StatusNotFound {
			t.Fatalf("developer on settings: %d", st)
		}
		p.shot("13-developer-404")
	})
}

// TestWebWithoutJavaScript: with scripts off, creating and revoking a
// token still work; only the copy buttons stay hidden.
func TestWebWithoutJavaScript(t *testing.T) {
	browser := startChromium(t)
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	p := newPage(t, browser, s.URL, screenshotDir(t))
	p.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	})
	s.remember(p.signIn("root", s.AdminToken))
	settings := "/tanuki/app/-/settings/repository"
	p.open(settings)
	p.do(chromedp.Click(chromedp.CSS("#deploy-tokens > summary")),
		chromedp.SendKeys(chromedp.ID("deploy_token_name"), "no-js"),
		chromedp.Click(chromedp.ID("deploy_token_read_repository")))
	if st := p.load(chromedp.Click(chromedp.ID("create-deploy-token"))); st != 200 {
		t.Fatalf("create: %d", st)
	}
	token := p.value("#deploy-token")
	s.remember(token)
	if !strings.HasPrefix(token, "dtd_") {
		t.Fatalf("token %q", token)
	}
	btn, err := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.CSS(`[data-copy="deploy-token"]`)))
	if err != nil || !strings.Contains(btn, "hidden") {
		t.Errorf("copy button without JavaScript: %s %v", btn, err)
	}
	p.shot("14-nojs-created")
	if st := p.load(chromedp.Click(chromedp.CSS("#active-deploy-tokens a.btn-danger"))); st != 200 {
		t.Fatalf("confirm page: %d", st)
	}
	if st := p.load(chromedp.Click(chromedp.ID("confirm-revoke"))); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if row := p.text("#inactive-deploy-tokens tbody tr"); !strings.Contains(row, "no-js") || !strings.Contains(row, "Revoked") {
		t.Fatalf("inactive row %q", row)
	}
	var list []deployTokenInfo
	s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fapp/deploy_tokens", s.AdminToken, nil, &list)
	if len(list) != 1 || !list[0].Revoked {
		t.Fatalf("tokens %+v", list)
	}
}

// TestWebGroupDeployTokensEndToEnd is issue 19's group page in a real
// browser: a maintainer of corp by membership of corp alone creates a
// group token on corp's settings page (its secret shown once), the token
// pulls an image of a project in corp with podman, and revoking it on the
// page, after confirming, stops it; a developer of corp gets 404.
func TestWebGroupDeployTokensEndToEnd(t *testing.T) {
	browser := startChromium(t)
	e := startRegistryEnv(t, nil)
	s := e.s
	_, alice := s.user(t, "alice")
	gmID, gmPAT := s.user(t, "gm")
	gdevID, gdevPAT := s.user(t, "gdev")
	s.groupAt(t, alice, "corp")
	s.groupMember(t, alice, "corp", gmID, 40)
	s.groupMember(t, alice, "corp", gdevID, 30)
	devID, err := s.app.store.UserByUsername(t.Context(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	s.project(t, s.AdminToken, "corp/app", "private")
	s.member(t, "corp/app", devID.ID, 30)
	if _, err := testenv.PushRandomImage(t, e.ref("corp/app:v1"), "dev", e.dev); err != nil {
		t.Fatalf("developer push: %v\nregistry log:\n%s", err, e.reg.Log())
	}
	p := newPage(t, browser, s.URL, screenshotDir(t))
	settings := "/groups/corp/-/settings/repository"

	t.Run("1 sign in and open the group's settings", func(t *testing.T) {
		s.remember(p.signIn("gm", gmPAT))
		if st := p.open(settings); st != 200 || p.path() != settings {
			t.Fatalf("group settings: %d at %s", st, p.path())
		}
		if got := p.text("nav.breadcrumb"); !strings.Contains(got, "corp") || !strings.Contains(got, "Repository") {
			t.Errorf("breadcrumb %q", got)
		}
		if got := p.text(".settings-header p"); !strings.Contains(got, "every project in this group and its subgroups") {
			t.Errorf("section intro %q", got)
		}
		p.do(chromedp.Focus(chromedp.CSS("#deploy-tokens > summary")), chromedp.KeyEvent("\r"))
		if !p.eval(`document.getElementById("deploy-tokens").open`) {
			t.Fatal("Enter on the summary did not expand Deploy tokens")
		}
		if got := p.text("#no-active-tokens"); got != "This group has no active deploy tokens." {
			t.Errorf("empty list %q", got)
		}
		p.shot("15-group-settings")
	})
	var username, token string
	t.Run("2 create with read_registry; shown once", func(t *testing.T) {
		p.do(chromedp.SendKeys(chromedp.ID("deploy_token_name"), "cluster"), chromedp.Click(chromedp.ID("deploy_token_read_registry")))
		if st := p.load(chromedp.Click(chromedp.ID("create-deploy-token"))); st != 200 || !flashPage.MatchString(strings.TrimPrefix(p.path(), settings)) {
			t.Fatalf("create: %d at %s", st, p.path())
		}
		username, token = p.value("#deploy-token-user"), p.value("#deploy-token")
		s.remember(token)
		if !strings.HasPrefix(username, "gitlab+deploy-token-") || !strings.HasPrefix(token, "dtd_") {
			t.Fatalf("username %q token %q", username, token)
		}
		if n := p.text("#flash-notice"); n != "Your new group deploy token has been created." {
			t.Errorf("notice %q", n)
		}
		if row := p.text("#active-deploy-tokens tbody tr"); !strings.Contains(row, "cluster") || !strings.Contains(row, username) {
			t.Errorf("active row %q", row)
		}
		var list []deployTokenInfo
		s.mustAPI(t, 200, "GET", "/groups/corp/deploy_tokens", s.AdminToken, nil, &list)
		if len(list) != 1 || list[0].Username != username {
			t.Fatalf("the group's tokens through the API: %+v", list)
		}
		p.shot("16-group-token-created")
	})
	t.Run("3 the token pulls a project of the group", func(t *testing.T) {
		pm := testenv.Podman(t)
		if err := pm.Login(e.reg.Host(), username, token); err != nil {
			t.Fatalf("podman login with the page's token: %v", err)
		}
		if err := pm.Pull(e.ref("corp/app:v1")); err != nil {
			t.Fatalf("pull: %v", err)
		}
	})
	t.Run("4 a reload does not show it again", func(t *testing.T) {
		if st := p.load(chromedp.Reload()); st != 200 {
			t.Fatalf("reload: %d", st)
		}
		if h := p.html(); strings.Contains(h, token) || strings.Contains(h, `id="deploy-token"`) {
			t.Fatal("the token is on the page after a reload")
		}
	})
	t.Run("5 revoke, confirming", func(t *testing.T) {
		if !p.eval(`document.getElementById("deploy-tokens").open`) {
			p.do(chromedp.Click(chromedp.CSS("#deploy-tokens > summary")))
		}
		if st := p.load(chromedp.Click(chromedp.CSS("#active-deploy-tokens a.btn-danger"))); st != 200 || !strings.HasPrefix(p.path(), settings+"/deploy_tokens/") {
			t.Fatalf("confirm page: %d at %s", st, p.path())
		}
		if h := p.text("h1"); !strings.Contains(h, "Revoke deploy token cluster?") {
			t.Fatalf("confirm page heading %q", h)
		}
		p.shot("17-group-revoke-confirm")
		if st := p.load(chromedp.Click(chromedp.ID("confirm-revoke"))); st != 200 || !flashPage.MatchString(strings.TrimPrefix(p.path(), settings)) {
			t.Fatalf("revoke: %d at %s", st, p.path())
		}
		if n := p.text("#flash-notice"); !strings.Contains(n, "Revoked deploy token cluster") {
			t.Errorf("notice %q", n)
		}
		if row := p.text("#inactive-deploy-tokens tbody tr"); !strings.Contains(row, username) || !strings.Contains(row, "Revoked") {
			t.Errorf("inactive row %q", row)
		}
		p.shot("18-group-revoked")
		if err := testenv.Podman(t).Login(e.reg.Host(), username, token); err == nil {
			t.Fatal("podman login worked with a revoked token")
		}
	})
	t.Run("6 a developer of the group gets 404", func(t *testing.T) {
		p.load(chromedp.Click(chromedp.ID("sign-out")))
		s.remember(p.signIn("gdev", gdevPAT))
		if st := p.open(settings); st != http.StatusNotFound || !strings.Contains(p.text("h1"), "Page not found") {
			t.Fatalf("developer on the group's settings: %d", st)
		}
	})
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// registryEnv is a deploytokens plus the real distribution registry that
// trusts it, with images pushed by a developer.
type registryEnv struct {
	s   *testServer
	reg *testenv.Registry
	dev string // developer's PAT (username "dev")
}

func startRegistryEnv(t *testing.T, mod func(*Config)) *registryEnv {
	t.Helper()
	return startRegistryEnvAt(t, 0, mod)
}

// startRegistryEnvAt starts the registry on port (0: any), which the
// server then names as CI_REGISTRY.
func startRegistryEnvAt(t *testing.T, port int, mods ...func(*Config)) *registryEnv {
	t.Helper()
	s := startServer(t, func(c *Config) {
		if port != 0 {
			c.RegistryHost = fmt.Sprintf("localhost:%d", port)
		}
		for _, mod := range mods {
			if mod != nil {
				mod(c)
			}
		}
	})
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, s.app.signer.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistry(t, testenv.RegistryConfig{
		Realm: "http://" + s.Host + "/jwt/auth", Service: s.cfg.RegistryService, Issuer: s.cfg.RegistryIssuer,
		JWKSFile: jwksFile, SigningAlgorithms: []string{s.cfg.SigningAlg}, Port: port,
	})
	devID, dev := s.user(t, "dev")
	for _, p := range []struct{ path, vis string }{{"tanuki/app", "private"}, {"other/app", "private"}, {"open/app", "public"}} {
		s.project(t, s.AdminToken, p.path, p.vis)
		s.member(t, p.path, devID, 30)
	}
	for _, img := range []string{"tanuki/app:v1", "tanuki/app/sub/image:v1", "other/app:v1", "open/app:v1"} {
		if _, err := testenv.PushRandomImage(t, reg.Host()+"/"+img, "dev", dev); err != nil {
			t.Fatalf("developer push %s: %v\nregistry log:\n%s", img, err, reg.Log())
		}
	}
	return &registryEnv{s: s, reg: reg, dev: dev}
}

func (e *registryEnv) ref(img string) string { return e.reg.Host() + "/" + img }

// TestRegistryEndToEnd is the seed's flow with the real registry, podman
// and crane: docker login with a deploy token, then pull.
func TestRegistryEndToEnd(t *testing.T) {
	e := startRegistryEnv(t, nil)
	s := e.s
	readReg := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "puller", "scopes": []string{"read_registry"}})
	podman := testenv.Podman(t)

	t.Run("1 read_registry: login and pull, nested path too", func(t *testing.T) {
		if err := podman.Login(e.reg.Host(), readReg.Username, readReg.Token); err != nil {
			t.Fatal(err)
		}
		for _, img := range []string{"tanuki/app:v1", "tanuki/app/sub/image:v1"} {
			if err := podman.Pull(e.ref(img)); err != nil {
				t.Fatalf("pull %s: %v", img, err)
			}
		}
		crane := testenv.Crane(t)
		crane.Login(e.reg.Host(), readReg.Username, readReg.Token)
		if err := crane.Pull(e.ref("tanuki/app:v1")); err != nil {
			t.Fatalf("crane pull: %v", err)
		}
	})
	t.Run("2 read_registry: no push, no other project", func(t *testing.T) {
		if _, err := testenv.PushRandomImage(t, e.ref("tanuki/app:evil"), readReg.Username, readReg.Token); err == nil {
			t.Fatal("push with a read_registry token worked")
		}
		if err := podman.Pull(e.ref("other/app:v1")); err == nil {
			t.Fatal("pulled another project's image")
		}
		crane := testenv.Crane(t)
		crane.Login(e.reg.Host(), readReg.Username, readReg.Token)
		if err := crane.Pull(e.ref("other/app:v1")); err == nil {
			t.Fatal("crane pulled another project's image")
		}
		// A public project's image is what anyone may pull: logged in with
		// the token (which podman and crane then send for every pull),
		// a CI job still pulls public base images of other projects.
		if err := podman.Pull(e.ref("open/app:v1")); err != nil {
			t.Fatalf("pull of a public project's image with the token: %v", err)
		}
		if err := crane.Pull(e.ref("open/app:v1")); err != nil {
			t.Fatalf("crane pull of a public project's image with the token: %v", err)
		}
		if _, err := testenv.PushRandomImage(t, e.ref("open/app:evil"), readReg.Username, readReg.Token); err == nil {
			t.Fatal("pushed into another, public project")
		}
	})
	t.Run("3 read_repository only: login fails", func(t *testing.T) {
		d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "git-only", "scopes": []string{"read_repository"}})
		if err := testenv.Podman(t).Login(e.reg.Host(), d.Username, d.Token); err == nil {
			t.Fatal("login worked with a read_repository token")
		}
		r := tokenRequest(t, s, d.Username, d.Token, "repository:tanuki/app:pull")
		if r.Status != 403 || !strings.Contains(string(r.Body), `"DENIED"`) {
			t.Fatalf("token request: %d %s", r.Status, r.Body)
		}
	})
	t.Run("4 revoked: login fails right after DELETE", func(t *testing.T) {
		d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "short-lived", "scopes": []string{"read_registry"}})
		p := testenv.Podman(t)
		if err := p.Login(e.reg.Host(), d.Username, d.Token); err != nil {
			t.Fatal(err)
		}
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", d.ID), s.AdminToken, nil, nil)
		if err := p.Logout(e.reg.Host()); err != nil {
			t.Fatal(err)
		}
		if err := p.Login(e.reg.Host(), d.Username, d.Token); err == nil {
			t.Fatal("login worked after revocation")
		}
		// The holder sees "access denied"; the operator's log says why.
		if want := fmt.Sprintf("kind=\"deploy token\" id=%d reason=revoked", d.ID); !strings.Contains(s.logs.String(), want) {
			t.Errorf("the server log does not say %q", want)
		}
	})
	t.Run("5 gitlab-deploy-token with read_repository pulls", func(t *testing.T) {
		d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "gitlab-deploy-token", "scopes": []string{"read_repository"}})
		p := testenv.Podman(t)
		if err := p.Login(e.reg.Host(), d.Username, d.Token); err != nil {
			t.Fatal(err)
		}
		if err := p.Pull(e.ref("tanuki/app:v1")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("6 write_registry pushes into its own project only", func(t *testing.T) {
		d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "pusher", "scopes": []string{"write_registry"}})
		if _, err := testenv.PushRandomImage(t, e.ref("tanuki/app:pushed"), d.Username, d.Token); err != nil {
			t.Fatalf("push own project: %v", err)
		}
		if _, err := testenv.PushRandomImage(t, e.ref("other/app:pushed"), d.Username, d.Token); err == nil {
			t.Fatal("pushed into another project")
		}
	})
	t.Run("7 anonymous: public pulls, private does not", func(t *testing.T) {
		p := testenv.Podman(t)
		if err := p.Pull(e.ref("open/app:v1")); err != nil {
			t.Fatalf("anonymous public pull: %v", err)
		}
		if err := p.Pull(e.ref("tanuki/app:v1")); err == nil {
			t.Fatal("anonymous private pull worked")
		}
	})
	t.Run("8 developer pushes, reporter pulls only", func(t *testing.T) {
		repID, rep := s.user(t, "rep")
		s.member(t, "tanuki/app", repID, 20)
		crane := testenv.Crane(t)
		crane.Login(e.reg.Host(), "rep", rep)
		if err := crane.Pull(e.ref("tanuki/app:v1")); err != nil {
			t.Fatalf("reporter pull: %v", err)
		}
		if _, err := testenv.PushRandomImage(t, e.ref("tanuki/app:rep"), "rep", rep); err == nil {
			t.Fatal("reporter pushed")
		}
		if _, err := testenv.PushRandomImage(t, e.ref("tanuki/app:dev2"), "dev", e.dev); err != nil {
			t.Fatalf("developer push: %v", err)
		}
	})
}

func tokenRequest(t *testing.T, s *testServer, user, pass string, scopes ...string) apiResponse {
	t.Helper()
	q := url.Values{"service": {s.cfg.RegistryService}, "scope": scopes}
	req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) apiResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// tokenClaims decodes a token answer and verifies its signature with the
// server's published keys.
func tokenClaims(t *testing.T, s *testServer, body []byte) jwt.MapClaims {
	t.Helper()
	var ans struct {
		Token, AccessToken string
	}
	var raw map[string]any
	json.Unmarshal(body, &raw)
	ans.Token, _ = raw["token"].(string)
	ans.AccessToken, _ = raw["access_token"].(string)
	if ans.AccessToken == "" {
		t.Fatalf("no access_token in %s", body)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(ans.AccessToken, claims, func(tok *jwt.Token) (any, error) {
		return publicKey(t, s, tok.Header["kid"].(string))
	}, jwt.WithAudience(s.cfg.RegistryService), jwt.WithIssuer(s.cfg.RegistryIssuer))
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	// One audience, as a string: the form every registry reads.
	if aud, ok := claims["aud"].(string); !ok || aud != s.cfg.RegistryService {
		t.Fatalf("aud = %#v; want the string %q", claims["aud"], s.cfg.RegistryService)
	}
	return claims
}

func TestTokenEndpoint(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	if r := s.api(t, "POST", "/projects", s.AdminToken, map[string]any{"path": "nested", "namespace_path": "tanuki/app"}); r.Status != 400 || !strings.Contains(r.message(), "nested") {
		t.Fatalf("project inside a project: %d %s", r.Status, r.Body)
	}
	s.project(t, s.AdminToken, "tanuki/app_two", "private")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "r", "scopes": []string{"read_registry"}})

	t.Run("grants exactly what it may", func(t *testing.T) {
		r := tokenRequest(t, s, d.Username, d.Token,
			"repository:tanuki/app:pull,push repository:tanuki/app/sub/img:pull",
			"repository:tanuki/app_two:pull", "repository:tanuki/app/nested:pull", "repository:tanuki/app/a/b/c:pull", "repository:Bad/Name:pull", "nonsense")
		if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%d, Cache-Control %q: %s", r.Status, r.Header.Get("Cache-Control"), r.Body)
		}
		c := tokenClaims(t, s, r.Body)
		got, _ := json.Marshal(c["access"])
		want := `[{"actions":["pull"],"name":"tanuki/app","type":"repository"},{"actions":["pull"],"name":"tanuki/app/sub/img","type":"repository"},{"actions":["pull"],"name":"tanuki/app/nested","type":"repository"}]`
		if string(got) != want {
			t.Fatalf("access = %s\nwant     %s", got, want)
		}
		if c["sub"] != d.Username {
			t.Fatalf("sub = %v", c["sub"])
		}
		if c["auth_type"] != "deploy_token" {
			t.Fatalf("auth_type = %v, want deploy_token", c["auth_type"])
		}
		exp, _ := c.GetExpirationTime()
		if d := time.Until(exp.Time); d > s.cfg.TokenLifetime || d < s.cfg.TokenLifetime-time.Minute {
			t.Fatalf("lifetime %v", d)
		}
	})
	t.Run("never past the deploy token's expiry", func(t *testing.T) {
		soon := time.Now().Add(90 * time.Second).UTC().Truncate(time.Second)
		d2 := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "soon", "expires_at": soon.Format(time.RFC3339), "scopes": []string{"read_registry"}})
		r := tokenRequest(t, s, d2.Username, d2.Token, "repository:tanuki/app:pull")
		exp, _ := tokenClaims(t, s, r.Body).GetExpirationTime()
		if exp.After(soon) {
			t.Fatalf("jwt exp %v after token expiry %v", exp, soon)
		}
	})
	t.Run("wrong credentials look alike", func(t *testing.T) {
		unknown := tokenRequest(t, s, "nobody", d.Token)
		wrong := tokenRequest(t, s, d.Username, "dtd_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
		garbage := tokenRequest(t, s, d.Username, "x")
		for _, r := range []apiResponse{unknown, wrong, garbage} {
			if r.Status != 401 || string(r.Body) != string(unknown.Body) ||
				r.Header.Get("WWW-Authenticate") != `Basic realm="deploytokens"` {
				t.Fatalf("%d %q %v", r.Status, r.Body, r.Header)
			}
		}
		if !strings.Contains(string(unknown.Body), `{"errors":[{"code":"UNAUTHORIZED","message":"HTTP Basic: Access denied"}]}`) {
			t.Fatalf("body %s", unknown.Body)
		}
	})
	t.Run("service and account", func(t *testing.T) {
		for _, q := range []string{"", "service=other", "service=container_registry&account=someone-else", "service=container_registry&offline_token=perhaps",
			// A query that does not parse, or names one parameter twice, is
			// refused rather than read in part.
			"service=container_registry&account=someone-else%zz", "service=container_registry;account=x",
			"service=container_registry&service=other", "service=container_registry&account=" + d.Username + "&account=someone-else"} {
			req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?"+q, nil)
			req.SetBasicAuth(d.Username, d.Token)
			if r := do(t, req); r.Status != 400 || !strings.Contains(string(r.Body), "errors") {
				t.Errorf("%q: %d %s", q, r.Status, r.Body)
			}
		}
	})
	t.Run("anonymous gets an empty grant", func(t *testing.T) {
		r := tokenRequest(t, s, "", "", "repository:tanuki/app:pull")
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if a := tokenClaims(t, s, r.Body)["access"].([]any); len(a) != 0 {
			t.Fatalf("anonymous access %v", a)
		}
		// Nobody to refresh for: offline access gives anonymous nothing
		// more (a refresh token would be useless, and count against a
		// shared allowance).
		req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?service=container_registry&offline_token=true&scope=repository:tanuki/app:pull", nil)
		if r := do(t, req); r.Status != 200 || strings.Contains(string(r.Body), "refresh_token") {
			t.Fatalf("anonymous offline: %d %s", r.Status, r.Body)
		}
	})
	t.Run("POST password and refresh, refresh dies with the token", func(t *testing.T) {
		d3 := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "offline", "scopes": []string{"read_registry"}})
		post := func(form url.Values) apiResponse {
			form.Set("service", s.cfg.RegistryService)
			form.Set("client_id", "test")
			req, _ := http.NewRequest("POST", s.URL+"/jwt/auth", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return do(t, req)
		}
		r := post(url.Values{"grant_type": {"password"}, "username": {d3.Username}, "password": {d3.Token}, "access_type": {"offline"}, "scope": {"repository:tanuki/app:pull"}})
		var ans struct {
			RefreshToken string `json:"refresh_token"`
			Scope        string `json:"scope"`
		}
		json.Unmarshal(r.Body, &ans)
		if r.Status != 200 || !strings.HasPrefix(ans.RefreshToken, "dtr_") || ans.Scope != "repository:tanuki/app:pull" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		s.remember(ans.RefreshToken)
		tokenClaims(t, s, r.Body)
		// Trading it in answers a JWT for the scope, and no secret: not the
		// refresh token again, even when offline access is asked.
		r = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ans.RefreshToken}, "scope": {"repository:tanuki/app:pull"}, "access_type": {"offline"}})
		var again struct {
			RefreshToken string `json:"refresh_token"`
			Scope        string `json:"scope"`
		}
		json.Unmarshal(r.Body, &again)
		if r.Status != 200 || again.Scope != "repository:tanuki/app:pull" || again.RefreshToken != "" || strings.Contains(string(r.Body), "dtr_") {
			t.Fatalf("refresh: %d %s", r.Status, r.Body)
		}
		tokenClaims(t, s, r.Body)
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", d3.ID), s.AdminToken, nil, nil)
		if r := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ans.RefreshToken}}); r.Status != 400 || !strings.Contains(string(r.Body), "INVALID_GRANT") {
			t.Fatalf("refresh after revoke: %d %s", r.Status, r.Body)
		}
		for _, f := range []url.Values{{"grant_type": {"magic"}}, {}} {
			if r := post(f); r.Status != 400 {
				t.Fatalf("%v: %d %s", f, r.Status, r.Body)
			}
		}
	})
}

// TestTokenPOSTRefusals: a POST /jwt/auth the server cannot read is a 400
// naming what is wrong, and a username that cannot be one is the client's
// mistake, not a guess: it never bans the address.
func TestTokenPOSTRefusals(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "private")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "r", "scopes": []string{"read_registry"}})
	form := func(user string) string {
		return url.Values{"service": {s.cfg.RegistryService}, "grant_type": {"password"}, "username": {user},
			"password": {d.Token}, "scope": {"repository:tanuki/app:pull"}}.Encode()
	}
	post := func(query, ctype, body string) apiResponse {
		req, _ := http.NewRequest("POST", s.URL+"/jwt/auth"+query, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		return do(t, req)
	}
	const formType = "application/x-www-form-urlencoded"
	tests := []struct {
		name, query, ctype, body, want string
	}{
		{"query string", "?service=" + s.cfg.RegistryService, formType, form(d.Username), "not in the query string"},
		{"no content type", "", "", form(d.Username), "x-www-form-urlencoded"},
		{"JSON", "", "application/json", `{"service":"` + s.cfg.RegistryService + `"}`, "x-www-form-urlencoded"},
		{"bad escape", "", formType, form(d.Username) + "&x=%zz", "not valid"},
		{"too large", "", formType, form(d.Username) + "&x=" + strings.Repeat("a", 17<<10), "larger than 16 KiB"},
		{"access_type", "", formType, form(d.Username) + "&access_type=forever", "access_type"},
		{"NUL in username", "", formType, form("a\x00b"), "username"},
		{"invalid UTF-8 username", "", formType, form("\xff"), "username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(tt.query, tt.ctype, tt.body)
			if r.Status != 400 || !strings.Contains(string(r.Body), tt.want) {
				t.Fatalf("%d %s; want 400 naming %q", r.Status, r.Body, tt.want)
			}
		})
	}
	for _, ctype := range []string{formType + "; charset=utf-16", formType + "; charset=latin1"} {
		if r := post("", ctype, form(d.Username)); r.Status != 415 || !strings.Contains(string(r.Body), "charset") {
			t.Errorf("%s: %d %s; want 415 naming the charset", ctype, r.Status, r.Body)
		}
	}
	for range s.cfg.AuthMaxFailures + 2 {
		if r := post("", formType, form("\xff")); r.Status != 400 {
			t.Fatalf("malformed username: %d %s", r.Status, r.Body)
		}
	}
	if r := post("", formType+"; charset=utf-8", form(d.Username)); r.Status != 200 {
		t.Fatalf("the token after %d malformed usernames: %d %s; want 200, not banned", s.cfg.AuthMaxFailures+2, r.Status, r.Body)
	}
}

// TestTokenStoreDown: with Redis unreachable the token endpoint answers 503
// UNAVAILABLE (never 401), and recovers by itself.
func TestTokenStoreDown(t *testing.T) {
	rs := testenv.StartRedisProcess(t)
	s := startServer(t, func(c *Config) { c.RedisURL = rs.URL() })
	s.project(t, s.AdminToken, "tanuki/app", "private")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "r", "scopes": []string{"read_registry"}})
	rs.Stop()
	r := tokenRequest(t, s, d.Username, d.Token, "repository:tanuki/app:pull")
	if r.Status != 503 || !strings.Contains(string(r.Body), `"UNAVAILABLE"`) {
		t.Fatalf("store down: %d %s", r.Status, r.Body)
	}
	if r := s.api(t, "GET", "/user", s.AdminToken, nil); r.Status != 503 {
		t.Fatalf("api with store down: %d %s", r.Status, r.Body)
	}
	if status, body := rawGet(t, strings.TrimPrefix(s.URL, "http://"), "/tanuki/app.git/info/refs?service=git-upload-pack", d.Username, d.Token); status != 503 {
		t.Fatalf("git with store down: %d %s", status, body)
	}
	resp, err := http.Get(s.URL + "/-/readiness")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("readiness %d", resp.StatusCode)
	}
	rs.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = tokenRequest(t, s, d.Username, d.Token, "repository:tanuki/app:pull")
		if r.Status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.Status != 200 {
		t.Fatalf("after recovery: %d %s", r.Status, r.Body)
	}
}

// TestRefreshTokensPerCredential: one credential is given at most 100
// refresh tokens in 30 days, so a loop of offline logins cannot
// fill the store; past that the answer is a JWT without one.
func TestRefreshTokensPerCredential(t *testing.T) {
	s := startServer(t, nil)
	s.project(t, s.AdminToken, "tanuki/app", "")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "offline", "scopes": []string{"read_registry"}})
	login := func() (int, string) {
		q := url.Values{"service": {s.cfg.RegistryService}, "offline_token": {"true"}, "scope": {"repository:tanuki/app:pull"}}
		req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?"+q.Encode(), nil)
		req.SetBasicAuth(d.Username, d.Token)
		r := do(t, req)
		var ans struct {
			Token        string `json:"token"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(r.Body, &ans); err != nil || ans.Token == "" {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		s.remember(ans.RefreshToken)
		return r.Status, ans.RefreshToken
	}
	for i := range 100 {
		if status, refresh := login(); status != 200 || !strings.HasPrefix(refresh, "dtr_") {
			t.Fatalf("login %d: %d, refresh token %q", i+1, status, refresh)
		}
	}
	if status, refresh := login(); status != 200 || refresh != "" {
		t.Fatalf("login 101: %d, refresh token %q; want a JWT and no refresh token", status, refresh)
	}
	// Another credential has its own allowance.
	other := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "other", "scopes": []string{"read_registry"}})
	d = other
	if _, refresh := login(); !strings.HasPrefix(refresh, "dtr_") {
		t.Fatalf("another credential: refresh token %q", refresh)
	}
}

// TestRefreshTokenLivesWhileUsed: docker keeps only the refresh token after
// a login, so each use renews its 30 idle days (the record of a token that
// expires in two days starts with two days and is renewed to 30), and
// dead refresh tokens are 400 invalid_grant without counting against the
// address: a machine retrying with one must not ban its neighbours.
func TestRefreshTokenLivesWhileUsed(t *testing.T) {
	redisURL := testenv.StartRedis(t)
	s := startServer(t, func(c *Config) { c.RedisURL = redisURL })
	s.project(t, s.AdminToken, "tanuki/app", "")
	soon := time.Now().UTC().AddDate(0, 0, 2).Format("2006-01-02")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "docker", "expires_at": soon, "scopes": []string{"read_registry"}})
	post := func(form url.Values) apiResponse {
		form.Set("service", s.cfg.RegistryService)
		req, _ := http.NewRequest("POST", s.URL+"/jwt/auth", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t, req)
	}
	r := post(url.Values{"grant_type": {"password"}, "username": {d.Username}, "password": {d.Token}, "access_type": {"offline"}})
	var ans struct {
		RefreshToken string `json:"refresh_token"`
	}
	// Nothing asked, nothing granted: the OAuth2 answer still has its
	// required scope, empty.
	if json.Unmarshal(r.Body, &ans); r.Status != 200 || ans.RefreshToken == "" || !strings.Contains(string(r.Body), `"scope":""`) {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	s.remember(ans.RefreshToken)

	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	left := func() time.Duration {
		t.Helper()
		keys, err := rc.Keys(t.Context(), "*refresh:*").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("refresh records: %v, %v; want one", keys, err)
		}
		ttl, err := rc.PTTL(t.Context(), keys[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		return ttl
	}
	if l := left(); l <= 0 || l > 48*time.Hour {
		t.Fatalf("a new refresh token's record lives %v; want at most the deploy token's two days", l)
	}
	if r := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ans.RefreshToken}}); r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	if l := left(); l < 29*24*time.Hour {
		t.Fatalf("after a use the record lives %v; want 30 days", l)
	}

	dead, err := tokens.Generate(tokens.RefreshSecret)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.cfg.AuthMaxFailures + 2 {
		r := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {dead.Reveal()}})
		if r.Status != 400 || !strings.Contains(string(r.Body), "INVALID_GRANT") || !strings.Contains(string(r.Body), "log in again") {
			t.Fatalf("dead refresh token %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	if r := post(url.Values{"grant_type": {"password"}, "username": {d.Username}, "password": {d.Token}}); r.Status != 200 {
		t.Fatalf("a login after dead refresh tokens: %d %s; they must not ban the address", r.Status, r.Body)
	}

	// Once its deploy token is revoked, the first try deletes the record.
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/tanuki%%2Fapp/deploy_tokens/%d", d.ID), s.AdminToken, nil, nil)
	if r := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ans.RefreshToken}}); r.Status != 400 {
		t.Fatalf("refresh after revoke: %d %s", r.Status, r.Body)
	}
	if keys, err := rc.Keys(t.Context(), "*refresh:*").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("refresh records after a try with a revoked credential: %v, %v; want none", keys, err)
	}
}

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// fedIdentity is a federated identity as the API answers it.
type fedIdentity struct {
	ID       int64             `json:"id"`
	TokenID  int64             `json:"token_id"`
	Issuer   string            `json:"issuer"`
	Audience string            `json:"audience"`
	Claims   map[string]string `json:"claims"`
}

// TestFederationEndToEnd: a workload with a token from a real OIDC
// provider (Hydra) and no secret logs in and pulls with podman through the
// real registry, clones with git, trades its token with the RFC 8693
// grant, and gets credentials from the kubelet credential provider; a
// token no policy trusts is refused exactly as a wrong secret is.
func TestFederationEndToEnd(t *testing.T) {
	h := testenv.SharedHydra(t)
	e := startRegistryEnv(t, func(c *Config) { c.OIDCIssuers = h.Issuer })
	s := e.s
	const aud = "deploytokens"
	dt := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "keyless", "username": "keyless-ci", "scopes": []string{"read_registry", "read_repository"}})
	idPath := fmt.Sprintf("/projects/%s/deploy_tokens/%d/federated_identities", url.PathEscape("tanuki/app"), dt.ID)
	var created fedIdentity
	s.mustAPI(t, 201, "POST", idPath, s.AdminToken, map[string]any{"issuer": h.Issuer, "audience": aud,
		"claims": map[string]any{"sub": "e2e-tanuki-ci"}}, &created)
	// A Kubernetes service account of namespace build, by its sub.
	s.mustAPI(t, 201, "POST", idPath, s.AdminToken, url.Values{"issuer": {h.Issuer}, "audience": {aud},
		"claims[sub]": {"system:serviceaccount:build:*"}}, nil)
	ci := h.CreateClient(t, "e2e-tanuki-ci", aud, 0)
	tok := ci.Token(t, aud)
	s.remember(tok)
	sa := h.CreateClient(t, "system:serviceaccount:build:puller", aud, 0)
	stranger := h.CreateClient(t, "e2e-someone-else", aud, 0)

	t.Run("podman login and pull with the OIDC token as the password", func(t *testing.T) {
		podman := testenv.Podman(t)
		if err := podman.Login(e.reg.Host(), dt.Username, tok); err != nil {
			t.Fatalf("login: %v\n%s", err, s.logs.String())
		}
		if err := podman.Pull(e.ref("tanuki/app:v1")); err != nil {
			t.Fatalf("pull: %v", err)
		}
		if err := podman.Pull(e.ref("other/app:v1")); err == nil {
			t.Fatal("pulled another project's image")
		}
		if !strings.Contains(s.logs.String(), "action=oidc_exchange") {
			t.Error("no audit line for the exchange")
		}
		var events []auditEventView
		r := s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fapp/audit_events?event_name=oidc_exchange", s.AdminToken, nil, &events)
		if len(events) == 0 {
			t.Fatalf("no oidc_exchange audit event: %s", r.Body)
		}
		if e := events[0]; e.Details.AuthorName != "e2e-tanuki-ci" || e.Details.TargetID != dt.ID ||
			!strings.Contains(string(r.Body), h.Issuer) || strings.Contains(string(r.Body), tok) {
			t.Errorf("audit event %s: want the subject as author, the token as target, the issuer named and no OIDC token", r.Body)
		}
	})

	t.Run("registry token lives no longer than the OIDC token", func(t *testing.T) {
		r := tokenRequest(t, s, dt.Username, tok, "repository:tanuki/app:pull")
		if r.Status != 200 {
			t.Fatalf("token request: %d %s", r.Status, r.Body)
		}
		c := tokenClaims(t, s, r.Body)
		oidcExp := int64(unverifiedExp(t, tok))
		if exp := int64(c["exp"].(float64)); exp > oidcExp {
			t.Errorf("registry token exp %d is after the OIDC token's %d", exp, oidcExp)
		}
		// offline_token asks for a refresh token; it would outlive the
		// OIDC token, so none is given.
		r = tokenRequest(t, s, dt.Username, tok, "repository:tanuki/app:pull")
		q := url.Values{"service": {s.cfg.RegistryService}, "offline_token": {"true"}}
		req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?"+q.Encode(), nil)
		req.SetBasicAuth(dt.Username, tok)
		r = do(t, req)
		if r.Status != 200 || strings.Contains(string(r.Body), "refresh_token") {
			t.Errorf("offline token request: %d %s; want 200 without a refresh token", r.Status, r.Body)
		}
	})

	t.Run("git clone with the OIDC token as the password", func(t *testing.T) {
		work := t.TempDir()
		gitRun(t, work, "init", "-q", "-b", "main", "src")
		src := filepath.Join(work, "src")
		os.WriteFile(filepath.Join(src, "file"), []byte("keyless"), 0o644)
		gitRun(t, src, "add", ".")
		gitRun(t, src, "commit", "-q", "-m", "first")
		host := strings.TrimPrefix(s.URL, "http://")
		gitRun(t, src, "push", "-q", fmt.Sprintf("http://dev:%s@%s/tanuki/app.git", e.dev, host), "main")
		dst := filepath.Join(t.TempDir(), "c")
		gitRun(t, work, "clone", "-q", fmt.Sprintf("http://%s:%s@%s/tanuki/app.git", dt.Username, tok, host), dst)
		if b, _ := os.ReadFile(filepath.Join(dst, "file")); string(b) != "keyless" {
			t.Fatalf("clone holds %q", b)
		}
		out, err := gitTry(t, work, "clone", "-q", fmt.Sprintf("http://%s:%s@%s/tanuki/app.git", dt.Username, stranger.Token(t, aud), host), filepath.Join(t.TempDir(), "x"))
		if err == nil {
			t.Fatalf("clone with an untrusted token worked: %s", out)
		}
	})

	exchange := func(t *testing.T, form url.Values) apiResponse {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+"/jwt/auth", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t, req)
	}
	exchangeForm := func(user, subject string) url.Values {
		return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "service": {s.cfg.RegistryService},
			"scope": {"repository:tanuki/app:pull"}, "username": {user}, "subject_token": {subject},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}
	}

	t.Run("token exchange grant", func(t *testing.T) {
		r := exchange(t, exchangeForm(dt.Username, tok))
		if r.Status != 200 {
			t.Fatalf("exchange: %d %s", r.Status, r.Body)
		}
		var ans struct {
			AccessToken     string `json:"access_token"`
			IssuedTokenType string `json:"issued_token_type"`
			TokenType       string `json:"token_type"`
			Scope           string `json:"scope"`
			ExpiresIn       int    `json:"expires_in"`
		}
		r.json(t, &ans)
		if ans.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" || ans.TokenType != "Bearer" || ans.Scope != "repository:tanuki/app:pull" {
			t.Errorf("answer %s", r.Body)
		}
		if left := time.Until(time.Unix(int64(unverifiedExp(t, tok)), 0)); time.Duration(ans.ExpiresIn)*time.Second > left+time.Second {
			t.Errorf("expires_in %d outlives the OIDC token (%s left)", ans.ExpiresIn, left)
		}
		// The exchange's audit event says where it came from (newest first).
		var events []auditEventView
		s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fapp/audit_events?event_name=oidc_exchange", s.AdminToken, nil, &events)
		if len(events) == 0 || events[0].Details.IPAddress != "127.0.0.1" {
			t.Errorf("the exchange grant's audit event has no client address: %+v", events)
		}
		bad := []struct {
			name, field, value, want string
		}{
			{"no subject_token_type", "subject_token_type", "", "subject_token_type is missing"},
			{"unknown subject_token_type", "subject_token_type", "urn:ietf:params:oauth:token-type:saml2", "subject_token_type must be"},
			{"no subject_token", "subject_token", "", "subject_token is missing"},
			{"subject_token not a JWT", "subject_token", "dtd_notajwt", "subject_token must be a JWT"},
			{"no username", "username", "", "username must name the deploy token"},
			{"other requested_token_type", "requested_token_type", "urn:ietf:params:oauth:token-type:id_token", "requested_token_type must be"},
		}
		for _, b := range bad {
			t.Run(b.name, func(t *testing.T) {
				f := exchangeForm(dt.Username, tok)
				f.Set(b.field, b.value)
				r := exchange(t, f)
				if r.Status != 400 || !strings.Contains(string(r.Body), b.want) {
					t.Errorf("%d %s; want 400 naming %q", r.Status, r.Body, b.want)
				}
			})
		}
	})

	t.Run("refused exactly as a wrong secret", func(t *testing.T) {
		untrusted := stranger.Token(t, aud)
		wrong := tokenRequest(t, s, dt.Username, "dtd_"+strings.Repeat("x", 32), "repository:tanuki/app:pull")
		got := tokenRequest(t, s, dt.Username, untrusted, "repository:tanuki/app:pull")
		if got.Status != 401 || got.Status != wrong.Status || !bytes.Equal(got.Body, wrong.Body) ||
			got.Header.Get("WWW-Authenticate") != wrong.Header.Get("WWW-Authenticate") {
			t.Errorf("untrusted token: %d %s %q; a wrong secret: %d %s %q", got.Status, got.Body, got.Header.Get("WWW-Authenticate"),
				wrong.Status, wrong.Body, wrong.Header.Get("WWW-Authenticate"))
		}
		pw := url.Values{"grant_type": {"password"}, "service": {s.cfg.RegistryService}, "username": {dt.Username}, "password": {"dtd_" + strings.Repeat("y", 32)}}
		wrongPOST, gotPOST := exchange(t, pw), exchange(t, exchangeForm(dt.Username, untrusted))
		if gotPOST.Status != wrongPOST.Status || !bytes.Equal(gotPOST.Body, wrongPOST.Body) {
			t.Errorf("untrusted exchange: %d %s; a wrong password: %d %s", gotPOST.Status, gotPOST.Body, wrongPOST.Status, wrongPOST.Body)
		}
		if logs := s.logs.String(); !strings.Contains(logs, "kind=\"oidc token\"") || strings.Contains(logs, strings.Split(untrusted, ".")[1]) {
			t.Error("the refusal is not logged with its reason, or the log holds the token")
		}
	})

	t.Run("kubelet credential provider", func(t *testing.T) {
		saTok := sa.Token(t, aud)
		s.remember(saTok)
		img := e.ref("tanuki/app:v1")
		// As the kubelet writes it (pkg/credentialprovider/plugin): the
		// image as the pod names it, the token for the audience of
		// tokenAttributes, the annotations it was told to pass.
		req, _ := json.Marshal(map[string]any{"apiVersion": "credentialprovider.kubelet.k8s.io/v1", "kind": "CredentialProviderRequest",
			"image": img, "serviceAccountToken": saTok, "serviceAccountAnnotations": map[string]string{}})
		var out, errOut bytes.Buffer
		err := cmdCredentialProvider(t.Context(), []string{"--url", s.URL, "--username", dt.Username}, func(string) string { return "" },
			bytes.NewReader(req), &out, &errOut)
		if err != nil {
			t.Fatalf("credential-provider: %v\n%s", err, errOut.String())
		}
		var resp credentialProviderResponse
		if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
			t.Fatalf("response %s: %v", out.String(), err)
		}
		cache, err := time.ParseDuration(resp.CacheDuration)
		left := time.Until(time.Unix(int64(unverifiedExp(t, saTok)), 0))
		if resp.APIVersion != "credentialprovider.kubelet.k8s.io/v1" || resp.Kind != "CredentialProviderResponse" || resp.CacheKeyType != "Registry" ||
			err != nil || cache <= 0 || cache > left {
			t.Fatalf("response %s (token life left %s)", out.String(), left)
		}
		creds, ok := resp.Auth[e.reg.Host()]
		if !ok {
			t.Fatalf("no credentials for %s in %s", e.reg.Host(), out.String())
		}
		podman := testenv.Podman(t)
		if err := podman.Login(e.reg.Host(), creds.Username, creds.Password); err != nil {
			t.Fatalf("login with the provider's credentials: %v", err)
		}
		if err := podman.Pull(img); err != nil {
			t.Fatalf("pull with the provider's credentials: %v", err)
		}
		// A token no policy trusts fails in the plugin, with the reason.
		req, _ = json.Marshal(map[string]any{"apiVersion": "credentialprovider.kubelet.k8s.io/v1", "kind": "CredentialProviderRequest",
			"image": img, "serviceAccountToken": stranger.Token(t, aud)})
		err = cmdCredentialProvider(t.Context(), []string{"--url", s.URL, "--username", dt.Username}, func(string) string { return "" },
			bytes.NewReader(req), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("untrusted service-account token: %v; want a refusal", err)
		}
	})

	t.Run("API list, get, delete", func(t *testing.T) {
		var list []fedIdentity
		s.mustAPI(t, 200, "GET", idPath, s.AdminToken, nil, &list)
		if len(list) != 2 || list[0].ID != created.ID || list[0].Claims["sub"] != "e2e-tanuki-ci" || list[1].Claims["sub"] != "system:serviceaccount:build:*" {
			t.Fatalf("list %+v", list)
		}
		var one fedIdentity
		s.mustAPI(t, 200, "GET", fmt.Sprintf("%s/%d", idPath, created.ID), s.AdminToken, nil, &one)
		if one.Issuer != h.Issuer || one.Audience != aud || one.TokenID != dt.ID {
			t.Errorf("get %+v", one)
		}
		s.mustAPI(t, 404, "GET", fmt.Sprintf("%s/%d", idPath, created.ID+100), s.AdminToken, nil, nil)
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("%s/%d", idPath, created.ID), s.AdminToken, nil, nil)
		s.mustAPI(t, 404, "DELETE", fmt.Sprintf("%s/%d", idPath, created.ID), s.AdminToken, nil, nil)
		if r := tokenRequest(t, s, dt.Username, tok, "repository:tanuki/app:pull"); r.Status != 401 {
			t.Errorf("after the delete, the token is answered %d %s; want 401", r.Status, r.Body)
		}
	})

	t.Run("group deploy token", func(t *testing.T) {
		var g struct {
			ID int64 `json:"id"`
		}
		s.mustAPI(t, 201, "POST", "/groups", s.AdminToken, map[string]any{"name": "fedcorp", "path": "fedcorp"}, &g)
		var gt deployTokenInfo
		s.mustAPI(t, 201, "POST", "/groups/fedcorp/deploy_tokens", s.AdminToken, map[string]any{"name": "g", "username": "fed-group-ci", "scopes": []string{"read_registry"}}, &gt)
		s.remember(gt.Token)
		gPath := fmt.Sprintf("/groups/fedcorp/deploy_tokens/%d/federated_identities", gt.ID)
		var gi fedIdentity
		s.mustAPI(t, 201, "POST", gPath, s.AdminToken, map[string]any{"issuer": h.Issuer, "audience": aud, "claims": map[string]any{"sub": "e2e-tanuki-ci"}}, &gi)
		var list []fedIdentity
		s.mustAPI(t, 200, "GET", gPath, s.AdminToken, nil, &list)
		if len(list) != 1 || list[0].ID != gi.ID {
			t.Fatalf("group list %+v", list)
		}
		if r := tokenRequest(t, s, gt.Username, tok, "registry:catalog:*"); r.Status != 200 {
			t.Errorf("group token exchange: %d %s", r.Status, r.Body)
		}
		// The project form does not reach a group's token.
		s.mustAPI(t, 404, "GET", fmt.Sprintf("/projects/%s/deploy_tokens/%d/federated_identities", url.PathEscape("tanuki/app"), gt.ID), s.AdminToken, nil, nil)
	})
}

// TestFederationAPIBadInput: every new field refuses bad input with a 4xx
// naming it, and the store is left as it was.
func TestFederationAPIBadInput(t *testing.T) {
	const iss = "https://token.actions.githubusercontent.com"
	s := startServer(t, func(c *Config) { c.OIDCIssuers = iss })
	s.project(t, s.AdminToken, "tanuki/app", "private")
	dt := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "ci", "scopes": []string{"read_registry"}})
	path := fmt.Sprintf("/projects/%s/deploy_tokens/%d/federated_identities", url.PathEscape("tanuki/app"), dt.ID)
	good := func() map[string]any {
		return map[string]any{"issuer": iss, "audience": "deploytokens", "claims": map[string]any{"repository": "org/repo", "ref": "refs/heads/main"}}
	}
	with := func(k string, v any) map[string]any { b := good(); b[k] = v; return b }
	without := func(k string) map[string]any { b := good(); delete(b, k); return b }
	tests := []struct {
		name   string
		path   string
		body   any
		status int
		want   string
	}{
		{"unknown issuer", path, with("issuer", "https://evil.example"), 400, "issuer is not one of the OIDC issuers"},
		{"no issuer", path, without("issuer"), 400, "issuer is missing"},
		{"no audience", path, without("audience"), 400, "audience is missing"},
		{"audience glob", path, with("audience", "*"), 400, "audience must be exact"},
		{"no claims", path, without("claims"), 400, "claims must name at least one claim condition"},
		{"claims not an object", path, with("claims", []string{"sub"}), 400, "claims must be an object"},
		{"claim value an object", path, with("claims", map[string]any{"sub": map[string]any{}}), 400, "claims[sub] must be a string"},
		{"no subject claim", path, with("claims", map[string]any{"ref": "refs/heads/main"}), 400, "claims must constrain a subject claim"},
		{"glob matching everything", path, with("claims", map[string]any{"sub": "*"}), 400, "claims[sub] is a glob that matches everything"},
		{"glob matching everything on another claim", path, with("claims", map[string]any{"repository": "org/repo", "ref": "***"}), 400, "claims[ref] is a glob that matches everything"},
		{"subject glob with no literal start", path, with("claims", map[string]any{"repository": "*/repo"}), 400, "claims[repository] must start with a literal part"},
		{"malformed claim name", path, with("claims", map[string]any{"sub": "x", "bad name": "y"}), 400, `claims has a claim name "bad name"`},
		{"condition on aud", path, with("claims", map[string]any{"sub": "x", "aud": "y"}), 400, "claims[aud] cannot be a condition"},
		{"form claims without a name", path, url.Values{"issuer": {iss}, "audience": {"a"}, "claims": {"sub=x"}}, 400, "claims must be given as claims[claim]=value"},
		{"form claim repeated", path, url.Values{"issuer": {iss}, "audience": {"a"}, "claims[sub]": {"x", "y"}}, 400, "claims[sub] is given more than once"},
		{"unknown token", fmt.Sprintf("/projects/%s/deploy_tokens/%d/federated_identities", url.PathEscape("tanuki/app"), dt.ID+100), good(), 404, "Deploy Token Not Found"},
		{"bad token id", fmt.Sprintf("/projects/%s/deploy_tokens/x/federated_identities", url.PathEscape("tanuki/app")), good(), 400, "token_id must be a positive integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.api(t, "POST", tt.path, s.AdminToken, tt.body)
			if r.Status != tt.status || !strings.Contains(strings.ToLower(r.message()), strings.ToLower(tt.want)) {
				t.Fatalf("%d %s; want %d naming %q", r.Status, r.Body, tt.status, tt.want)
			}
			var list []fedIdentity
			s.mustAPI(t, 200, "GET", path, s.AdminToken, nil, &list)
			if len(list) != 0 {
				t.Fatalf("the store changed: %+v", list)
			}
		})
	}
	t.Run("the good input is taken", func(t *testing.T) {
		s.mustAPI(t, 201, "POST", path, s.AdminToken, good(), nil)
	})
	t.Run("no issuer allowed at all", func(t *testing.T) {
		s2 := startServer(t, nil)
		s2.project(t, s2.AdminToken, "tanuki/app", "private")
		d2 := s2.deployToken(t, s2.AdminToken, "tanuki/app", map[string]any{"name": "ci", "scopes": []string{"read_registry"}})
		r := s2.api(t, "POST", fmt.Sprintf("/projects/%s/deploy_tokens/%d/federated_identities", url.PathEscape("tanuki/app"), d2.ID), s2.AdminToken, good())
		if r.Status != 400 || !strings.Contains(r.message(), "DEPLOYTOKENS_OIDC_ISSUERS") {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("revoked token takes no policy", func(t *testing.T) {
		s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/%s/deploy_tokens/%d", url.PathEscape("tanuki/app"), dt.ID), s.AdminToken, nil, nil)
		r := s.api(t, "POST", path, s.AdminToken, good())
		if r.Status != 400 || !strings.Contains(r.message(), "token_id") {
			t.Errorf("%d %s", r.Status, r.Body)
		}
	})
}

func unverifiedExp(t *testing.T, tok string) float64 {
	t.Helper()
	var c struct {
		Exp float64 `json:"exp"`
	}
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &c) != nil {
		t.Fatalf("token payload does not decode")
	}
	return c.Exp
}

// TestFederationOnRedis: the exchange on the Redis store with the
// replica cache, as replicas run it.
func TestFederationOnRedis(t *testing.T) {
	h := testenv.SharedHydra(t)
	s := startServer(t, func(c *Config) {
		redisConfig(t)(c)
		c.OIDCIssuers = h.Issuer
	})
	s.project(t, s.AdminToken, "tanuki/app", "private")
	dt := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "keyless", "username": "redis-ci", "scopes": []string{"read_registry"}})
	s.mustAPI(t, 201, "POST", fmt.Sprintf("/projects/%s/deploy_tokens/%d/federated_identities", url.PathEscape("tanuki/app"), dt.ID), s.AdminToken,
		map[string]any{"issuer": h.Issuer, "audience": "deploytokens", "claims": map[string]any{"sub": "redis-tanuki-ci"}}, nil)
	tok := h.CreateClient(t, "redis-tanuki-ci", "deploytokens", 0).Token(t, "deploytokens")
	s.remember(tok)
	if r := tokenRequest(t, s, dt.Username, tok, "repository:tanuki/app:pull"); r.Status != 200 || !strings.Contains(string(r.Body), `"token"`) {
		t.Fatalf("exchange on Redis: %d %s", r.Status, r.Body)
	}
	s.mustAPI(t, 204, "DELETE", fmt.Sprintf("/projects/%s/deploy_tokens/%d", url.PathEscape("tanuki/app"), dt.ID), s.AdminToken, nil, nil)
	if r := tokenRequest(t, s, dt.Username, tok, "repository:tanuki/app:pull"); r.Status != 401 {
		t.Fatalf("exchange for a revoked token on Redis: %d %s", r.Status, r.Body)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// testServer is a deploytokens started in-process on a free loopback port.
type testServer struct {
	URL        string
	Host       string // localhost:port
	AdminToken string
	cfg        Config
	app        *app
	logs       *testenv.LogBuffer
	stop       context.CancelFunc
	done       chan error
	secrets    []string
}

// startServer starts a server on the embedded store in a temp dir (or on
// the Redis at cfg.RedisURL when mod sets it) and stops it when t ends.
func startServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	admin, _ := tokens.Generate(tokens.PATSecret)
	cfg := defaultConfig()
	cfg.Listen = ln.Addr().String()
	cfg.ExternalURL = fmt.Sprintf("http://localhost:%d", port)
	cfg.DataDir = t.TempDir()
	cfg.AdminToken = admin.Reveal()
	cfg.ShutdownTimeout = 5 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		ln.Close()
		t.Fatalf("start server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{URL: "http://" + ln.Addr().String(), Host: fmt.Sprintf("localhost:%d", port), AdminToken: cfg.AdminToken,
		cfg: cfg, app: a, logs: logs, stop: cancel, done: make(chan error, 1), secrets: []string{cfg.AdminToken}}
	go func() { s.done <- a.serve(ctx, ln) }()
	t.Cleanup(func() {
		s.shutdown(t)
		s.assertNoSecretsLogged(t)
	})
	return s
}

func (s *testServer) shutdown(t *testing.T) {
	if s.stop == nil {
		return
	}
	// The client may hold connections it dialed but never used; the
	// server would wait for them as for requests that have not arrived.
	http.DefaultClient.CloseIdleConnections()
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("server did not stop")
	}
}

// remember records a secret the server must never log.
func (s *testServer) remember(secret string) { s.secrets = append(s.secrets, secret) }

func (s *testServer) assertNoSecretsLogged(t *testing.T) {
	logs := s.logs.String()
	for _, sec := range s.secrets {
		if sec != "" && strings.Contains(logs, sec) {
			t.Errorf("a secret appears in the server's logs")
		}
	}
}

// redisConfig points a server at a fresh real redis-server.
func redisConfig(t *testing.T) func(*Config) {
	url := testenv.StartRedis(t)
	return func(c *Config) { c.RedisURL = url }
}

type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r apiResponse) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r apiResponse) message() string {
	var m struct {
		Message string `json:"message"`
	}
	json.Unmarshal(r.Body, &m)
	return m.Message
}

// api calls the REST API with token as PRIVATE-TOKEN. body is sent as JSON
// unless it is a string (sent as is, as JSON) or url.Values (a form).
func (s *testServer) api(t *testing.T, method, path, token string, body any) apiResponse {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		js, _ := json.Marshal(b)
		rd, ctype = bytes.NewReader(js), "application/json"
	}
	req, err := http.NewRequest(method, s.URL+"/api/v4"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (s *testServer) mustAPI(t *testing.T, want int, method, path, token string, body any, out any) apiResponse {
	t.Helper()
	r := s.api(t, method, path, token, body)
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if out != nil {
		r.json(t, out)
	}
	return r
}

// user creates a user with a PAT of the given scopes (api when none).
func (s *testServer) user(t *testing.T, username string, scopes ...string) (int64, string) {
	t.Helper()
	var u struct {
		ID int64 `json:"id"`
	}
	s.mustAPI(t, 201, "POST", "/users", s.AdminToken, map[string]any{"username": username, "name": username}, &u)
	if len(scopes) == 0 {
		scopes = []string{"api"}
	}
	var pat struct {
		Token string `json:"token"`
	}
	s.mustAPI(t, 201, "POST", fmt.Sprintf("/users/%d/personal_access_tokens", u.ID), s.AdminToken, map[string]any{"name": "t", "scopes": scopes}, &pat)
	s.remember(pat.Token)
	return u.ID, pat.Token
}

type projectInfo struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	Visibility        string `json:"visibility"`
	HTTPURLToRepo     string `json:"http_url_to_repo"`
}

func (s *testServer) project(t *testing.T, token, full, visibility string) projectInfo {
	t.Helper()
	i := strings.LastIndexByte(full, '/')
	var p projectInfo
	s.mustAPI(t, 201, "POST", "/projects", token, map[string]any{"path": full[i+1:], "namespace_path": full[:i], "visibility": visibility}, &p)
	return p
}

func (s *testServer) member(t *testing.T, project string, userID int64, level int) {
	t.Helper()
	s.mustAPI(t, 201, "POST", "/projects/"+url.PathEscape(project)+"/members", s.AdminToken, map[string]any{"user_id": userID, "access_level": level}, nil)
}

type deployTokenInfo struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Username  string   `json:"username"`
	ExpiresAt *string  `json:"expires_at"`
	Token     string   `json:"token"`
	Scopes    []string `json:"scopes"`
	Revoked   bool     `json:"revoked"`
	Expired   bool     `json:"expired"`
}

func (s *testServer) deployToken(t *testing.T, token, project string, body map[string]any) deployTokenInfo {
	t.Helper()
	var d deployTokenInfo
	s.mustAPI(t, 201, "POST", "/projects/"+url.PathEscape(project)+"/deploy_tokens", token, body, &d)
	s.remember(d.Token)
	return d
}

// publicKey finds kid in the server's JWKS.
func publicKey(t *testing.T, s *testServer, kid string) (any, error) {
	t.Helper()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(s.app.signer.JWKS(), &set); err != nil {
		return nil, err
	}
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
		if k.KeyID == kid {
			return k.Key, nil
		}
	}
	return nil, fmt.Errorf("kid %q not published", kid)
}

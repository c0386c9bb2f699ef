package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

func TestConfigPrecedence(t *testing.T) {
	env := map[string]string{"DEPLOYTOKENS_LISTEN": "127.0.0.1:9000", "DEPLOYTOKENS_TOKEN_LIFETIME": "2m", "DEPLOYTOKENS_DATA_DIR": "/tmp/x"}
	cfg, err := loadConfig("serve", []string{"--listen", "127.0.0.1:9001"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9001" || cfg.TokenLifetime != 2*time.Minute || cfg.DataDir != "/tmp/x" ||
		cfg.ReposDir != "/tmp/x/repositories" || cfg.ExternalURL != "http://127.0.0.1:9001" || cfg.RegistryHost != "127.0.0.1:9001" {
		t.Fatalf("%+v", cfg)
	}
}

// TestConfigErrors: every bad setting is reported at once, by name.
func TestConfigErrors(t *testing.T) {
	env := map[string]string{
		"DEPLOYTOKENS_AUTH_MAX_FAILURES": "many",
		"DEPLOYTOKENS_REDIS_URL":         "http://example",
		"DEPLOYTOKENS_SIGNING_ALG":       "HS256",
		"DEPLOYTOKENS_REDIS_CACHE_SIZE":  "-1",
	}
	_, err := loadConfig("serve", []string{"--listen", "nope", "--external-url", "ftp://x", "--token-lifetime", "1s", "--kid-format", "x", "--log-format", "xml", "--trusted-proxies", "10.0.0.0/99"},
		func(k string) string { return env[k] }, io.Discard)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, name := range []string{"DEPLOYTOKENS_AUTH_MAX_FAILURES", "DEPLOYTOKENS_REDIS_URL", "DEPLOYTOKENS_SIGNING_ALG", "DEPLOYTOKENS_REDIS_CACHE_SIZE", "--listen", "--external-url", "--token-lifetime", "--kid-format", "--log-format", "--trusted-proxies"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

// TestMetricsConfig: the metrics listener is optional, an address of its
// own, and pprof needs it.
func TestMetricsConfig(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		errors []string // settings the error names; none: valid
	}{
		{"off", nil, nil},
		{"on", []string{"--metrics-listen", "127.0.0.1:9090", "--metrics-pprof"}, nil},
		{"pprof without a listener", []string{"--metrics-pprof"}, []string{"--metrics-pprof"}},
		{"not host:port", []string{"--metrics-listen", "9090"}, []string{"--metrics-listen"}},
		{"bad port", []string{"--metrics-listen", "127.0.0.1:99999"}, []string{"--metrics-listen"}},
		{"the server's address", []string{"--listen", "127.0.0.1:8080", "--metrics-listen", "127.0.0.1:8080"}, []string{"--metrics-listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig("serve", tt.args, func(string) string { return "" }, io.Discard)
			if (err != nil) != (len(tt.errors) > 0) {
				t.Fatalf("error %v, want one naming %v", err, tt.errors)
			}
			for _, name := range tt.errors {
				if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), envName(strings.TrimPrefix(name, "--"))) {
					t.Errorf("error does not name %s: %v", name, err)
				}
			}
		})
	}
	env := map[string]string{"DEPLOYTOKENS_METRICS_LISTEN": "127.0.0.1:9100", "DEPLOYTOKENS_METRICS_PPROF": "true"}
	cfg, err := loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.MetricsListen != "127.0.0.1:9100" || !cfg.MetricsPprof {
		t.Fatalf("from the environment: %+v, %v", cfg, err)
	}
}

func TestServeHelp(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"serve", "--help"}, func(string) string { return "" }, &out, &out)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, s := range []string{"DEPLOYTOKENS_LISTEN", "DEPLOYTOKENS_REDIS_URL", "DEPLOYTOKENS_ADMIN_TOKEN", "DEPLOYTOKENS_DATA_DIR", "DEPLOYTOKENS_EXTERNAL_URL", "DEPLOYTOKENS_SECRET_FILE"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("help lacks %s", s)
		}
	}
	secretEnv := func(k string) string {
		return map[string]string{"DEPLOYTOKENS_ADMIN_TOKEN": "very-secret-admin-token", "DEPLOYTOKENS_REDIS_URL": "redis://:hunter2@127.0.0.1:1"}[k]
	}
	out.Reset()
	run(context.Background(), []string{"serve", "--bogus"}, secretEnv, &out, &out)
	run(context.Background(), []string{"serve", "--help"}, secretEnv, &out, &out)
	if strings.Contains(out.String(), "very-secret") || strings.Contains(out.String(), "hunter2") {
		t.Fatalf("usage prints a secret from the environment:\n%s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"serve", "--listen", "bad"}, func(string) string { return "" }, io.Discard, &out); code != 1 || !strings.Contains(out.String(), "--listen") {
		t.Fatalf("bad setting: exit %d, %s", code, out.String())
	}
}

// TestSecretMismatch: a replica with another server secret refuses to start
// against an existing Redis.
func TestSecretMismatch(t *testing.T) {
	url := redisConfig(t)
	s := startServer(t, url)
	s.shutdown(t)
	cfg := s.cfg
	cfg.DataDir = t.TempDir()
	cfg.SecretFile = ""
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "DEPLOYTOKENS_SECRET_FILE") {
		t.Fatalf("started with another secret: %v", err)
	}
	// The same secret starts fine.
	cfg.SecretFile = s.cfg.SecretFile
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.close()
}

// TestRedisDurabilityWarned: a server on a Redis that could lose
// acknowledged writes in a crash says so at start; on one that syncs every
// write it says nothing.
func TestRedisDurabilityWarned(t *testing.T) {
	rs := testenv.StartRedisProcess(t) // appendonly yes, appendfsync always
	synced := startServer(t, func(c *Config) { c.RedisURL = rs.URL() })
	if logs := synced.logs.String(); strings.Contains(logs, "append-only") {
		t.Errorf("warned about a Redis that syncs every write:\n%s", logs)
	}
	synced.shutdown(t)
	c := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer c.Close()
	if err := c.ConfigSet(t.Context(), "appendonly", "no").Err(); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *Config) { c.RedisURL, c.SecretFile = rs.URL(), synced.cfg.SecretFile })
	if logs := s.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "appendonly no") {
		t.Errorf("no warning about a Redis without an append-only file:\n%s", logs)
	}
}

// TestConfigChecks: a bad listen port is blamed on the listen address, an
// external URL with credentials, white space or an impossible port is
// refused, and the Redis URL is read as the store reads it, without
// repeating a password.
func TestConfigChecks(t *testing.T) {
	load := func(env map[string]string) error {
		_, err := loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard)
		return err
	}
	for _, tc := range []struct {
		env             map[string]string
		names, notNames []string
	}{
		{map[string]string{"DEPLOYTOKENS_LISTEN": "127.0.0.1:notaport"}, []string{"--listen"}, []string{"--external-url"}},
		{map[string]string{"DEPLOYTOKENS_LISTEN": "127.0.0.1:70000"}, []string{"--listen"}, []string{"--external-url"}},
		{map[string]string{"DEPLOYTOKENS_EXTERNAL_URL": "http://user:pw@example.com"}, []string{"--external-url"}, nil},
		{map[string]string{"DEPLOYTOKENS_EXTERNAL_URL": "http://example.com/a b"}, []string{"--external-url"}, nil},
		{map[string]string{"DEPLOYTOKENS_EXTERNAL_URL": "http://example.com:99999"}, []string{"--external-url"}, nil},
		{map[string]string{"DEPLOYTOKENS_REDIS_URL": "redis://:hunter2@127.0.0.1:1/abc"}, []string{"--redis-url"}, []string{"hunter2"}},
		{map[string]string{"DEPLOYTOKENS_REDIS_URL": "redis://:hunter2@127.0.0.1:1%zz"}, []string{"--redis-url"}, []string{"hunter2"}},
		{map[string]string{"DEPLOYTOKENS_REDIS_URL": "memcached://127.0.0.1:1"}, []string{"--redis-url"}, nil},
		{map[string]string{"DEPLOYTOKENS_ROTATION_MAX_GRACE": "-1h"}, []string{"--rotation-max-grace"}, nil},
		{map[string]string{"DEPLOYTOKENS_ROTATION_MAX_GRACE": "9000h"}, []string{"--rotation-max-grace"}, nil},
		{map[string]string{"DEPLOYTOKENS_AUDIT_RETENTION": "10m"}, []string{"--audit-retention"}, nil},
		{map[string]string{"DEPLOYTOKENS_WEBHOOK_MAX_ATTEMPTS": "0"}, []string{"--webhook-max-attempts"}, nil},
		{map[string]string{"DEPLOYTOKENS_WEBHOOK_CLAIM_TIMEOUT": "10ms", "DEPLOYTOKENS_WEBHOOK_BACKOFF": "0s"}, []string{"--webhook-claim-timeout", "--webhook-backoff"}, nil},
	} {
		err := load(tc.env)
		if err == nil {
			t.Errorf("%v accepted", tc.env)
			continue
		}
		for _, n := range tc.names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%v: error does not name %s: %v", tc.env, n, err)
			}
		}
		for _, n := range tc.notNames {
			if strings.Contains(err.Error(), n) {
				t.Errorf("%v: error names %s: %v", tc.env, n, err)
			}
		}
	}
	if err := load(map[string]string{"DEPLOYTOKENS_LISTEN": "127.0.0.1:0"}); err != nil {
		t.Errorf("listen on any free port refused: %v", err)
	}
	for _, u := range []string{"unix:///run/redis.sock", "redis+cluster://127.0.0.1:7000", "rediss://127.0.0.1:6380/2", "redis+sentinel://127.0.0.1:26379?master_name=m"} {
		if err := load(map[string]string{"DEPLOYTOKENS_REDIS_URL": u}); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

// TestStartupChecks: a git that cannot run, or an admin-token file too
// short to be a safe token, stops the server at start, naming the setting.
func TestStartupChecks(t *testing.T) {
	start := func(mod func(*Config)) error {
		cfg := defaultConfig()
		cfg.DataDir = t.TempDir()
		mod(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			a.close()
		}
		return err
	}
	if err := start(func(c *Config) { c.GitBin = "/nonexistent/git" }); err == nil || !strings.Contains(err.Error(), "DEPLOYTOKENS_GIT") {
		t.Errorf("missing git: %v", err)
	}
	for _, content := range []string{"", "short\n"} {
		err := start(func(c *Config) {
			if err := os.WriteFile(filepath.Join(c.DataDir, "admin-token"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		})
		if err == nil || !strings.Contains(err.Error(), "admin-token") {
			t.Errorf("admin-token file %q: %v", content, err)
		}
	}
	// A good configuration; the repositories directory holds what a crash
	// during a create left two hours ago, which the start sweeps away.
	var leftover string
	err := start(func(c *Config) {
		c.ReposDir = filepath.Join(c.DataDir, "repos")
		leftover = filepath.Join(c.ReposDir, "group", ".new-crashed.git")
		old := time.Now().Add(-2 * time.Hour)
		if err := os.MkdirAll(leftover, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(leftover, old, old); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Errorf("a good configuration: %v", err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("a crash's leftover after the start: %v", err)
	}
}

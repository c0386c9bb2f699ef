package main

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
)

// TestRegistryRepositoryCaps: the caps on the repositories of one token
// request come from flags and the environment, are checked, and are
// listed by serve --help.
func TestRegistryRepositoryCaps(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(Config) bool
		bad   string // the setting the error names; "": valid
	}{
		{name: "defaults", check: func(c Config) bool {
			return c.RegistryMaxRepositories == 16 && c.RegistryMaxAnonymousRepositories == 4
		}},
		{name: "flag", args: []string{"--registry-max-repositories", "64"}, check: func(c Config) bool { return c.RegistryMaxRepositories == 64 }},
		{name: "env", env: map[string]string{"DEPLOYTOKENS_REGISTRY_MAX_ANONYMOUS_REPOSITORIES": "1"},
			check: func(c Config) bool { return c.RegistryMaxAnonymousRepositories == 1 }},
		{name: "zero", args: []string{"--registry-max-repositories", "0"}, bad: "--registry-max-repositories"},
		{name: "past the scopes read", args: []string{"--registry-max-repositories", "65"}, bad: "--registry-max-repositories"},
		{name: "anonymous zero", env: map[string]string{"DEPLOYTOKENS_REGISTRY_MAX_ANONYMOUS_REPOSITORIES": "0"}, bad: "--registry-max-anonymous-repositories"},
		{name: "anonymous above the other", args: []string{"--registry-max-repositories", "2", "--registry-max-anonymous-repositories", "3"},
			bad: "--registry-max-anonymous-repositories"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig("serve", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tt.bad) || !strings.Contains(err.Error(), envName(strings.TrimPrefix(tt.bad, "--"))) {
					t.Fatalf("error %v, want one naming %s", err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, func(string) string { return "" }, &out, &out); code != 0 {
		t.Fatalf("serve --help: exit %d", code)
	}
	for _, s := range []string{"DEPLOYTOKENS_REGISTRY_MAX_REPOSITORIES", "DEPLOYTOKENS_REGISTRY_MAX_ANONYMOUS_REPOSITORIES"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("serve --help lacks %s", s)
		}
	}
}

// TestRegistryRepositoryCapsServed: the server applies the caps it is
// configured with, in the registry's error shape.
func TestRegistryRepositoryCapsServed(t *testing.T) {
	s := startServer(t, func(c *Config) { c.RegistryMaxRepositories, c.RegistryMaxAnonymousRepositories = 3, 2 })
	s.project(t, s.AdminToken, "tanuki/app", "public")
	d := s.deployToken(t, s.AdminToken, "tanuki/app", map[string]any{"name": "r", "scopes": []string{"read_registry"}})
	scopes := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "repository:tanuki/app/img" + strconv.Itoa(i) + ":pull"
		}
		return out
	}
	tests := []struct {
		name, user, pass string
		n, status        int
		want             string
	}{
		{"anonymous at the cap", "", "", 2, 200, `"token"`},
		{"anonymous over the cap", "", "", 3, 400, "may name at most 2"},
		{"deploy token at the cap", d.Username, d.Token, 3, 200, `"token"`},
		{"deploy token over the cap", d.Username, d.Token, 4, 400, "may name at most 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tokenRequest(t, s, tt.user, tt.pass, scopes(tt.n)...)
			if r.Status != tt.status || !strings.Contains(string(r.Body), tt.want) {
				t.Fatalf("%d %s; want %d with %q", r.Status, r.Body, tt.status, tt.want)
			}
			if tt.status == 400 && !strings.Contains(string(r.Body), `"errors"`) {
				t.Errorf("body %s is not in the registry's error shape", r.Body)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"io"
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

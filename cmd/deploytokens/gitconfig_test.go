package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestGitSettings: the git surface's bounds come from flags and the
// environment, are checked, and are listed by serve --help.
func TestGitSettings(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(Config) bool
		bad   string // the setting the error names; "": valid
	}{
		{name: "defaults", check: func(c Config) bool {
			return c.GitMaxInflatedBody == 10<<20 && c.GitStallTimeout == 20*time.Second && c.GitMaxAnonymous == 0 && c.GitMaxPerClient == 0
		}},
		{name: "fair shares", args: []string{"--git-max-anonymous", "3", "--git-stall-timeout", "5s"},
			env: map[string]string{"DEPLOYTOKENS_GIT_MAX_PER_CLIENT": "2"},
			check: func(c Config) bool {
				return c.GitMaxAnonymous == 3 && c.GitMaxPerClient == 2 && c.GitStallTimeout == 5*time.Second
			}},
		{name: "stall timeout too short", args: []string{"--git-stall-timeout", "10ms"}, bad: "--git-stall-timeout"},
		{name: "negative anonymous bound", args: []string{"--git-max-anonymous", "-1"}, bad: "--git-max-anonymous"},
		{name: "negative share", env: map[string]string{"DEPLOYTOKENS_GIT_MAX_PER_CLIENT": "-1"}, bad: "--git-max-per-client"},
		{name: "inflated body flag", args: []string{"--git-max-inflated-body", "65536"}, check: func(c Config) bool { return c.GitMaxInflatedBody == 65536 }},
		{name: "inflated body env", env: map[string]string{"DEPLOYTOKENS_GIT_MAX_INFLATED_BODY": "2048"}, check: func(c Config) bool { return c.GitMaxInflatedBody == 2048 }},
		{name: "inflated body too small", args: []string{"--git-max-inflated-body", "10"}, bad: "--git-max-inflated-body"},
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
	for _, s := range []string{"DEPLOYTOKENS_GIT_MAX_INFLATED_BODY", "DEPLOYTOKENS_GIT_MAX_ANONYMOUS", "DEPLOYTOKENS_GIT_MAX_PER_CLIENT", "DEPLOYTOKENS_GIT_STALL_TIMEOUT"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("serve --help lacks %s", s)
		}
	}
}

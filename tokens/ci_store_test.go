package tokens_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestCIVariablesSkipExpiredToken checks that a gitlab-deploy-token past
// its expiry, though never revoked, is not handed to CI jobs: its secret
// would be refused at login anyway, and the warning tells the job why.
func TestCIVariablesSkipExpiredToken(t *testing.T) {
	ctx := context.Background()
	s, keys := openStore(t)
	start := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	now := start
	// A discarding logger keeps test output to failures.
	svc := &tokens.Service{Store: s, Keys: keys, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	root := tokens.User{Username: "root", Name: "root", Admin: true, CreatedAt: start}
	if err := s.CreateUser(ctx, &root); err != nil {
		t.Fatal(err)
	}
	admin := &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	if _, err := svc.CreateProject(ctx, admin, tokens.CreateProjectInput{Path: "app", NamespacePath: "tanuki"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateDeployToken(ctx, admin, "tanuki/app", tokens.CreateDeployTokenInput{
		Name: tokens.CITokenName, Scopes: []string{"read_registry"}, ExpiresAt: "2030-06-02",
	}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		now         time.Time
		wantSecret  bool
		wantWarning string
	}{
		{"before expiry", start, true, ""},
		{"exactly at expiry", time.Date(2030, 6, 2, 0, 0, 0, 0, time.UTC), false, "expired"},
		{"a day after expiry", time.Date(2030, 6, 3, 0, 0, 0, 0, time.UTC), false, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = tt.now
			vars, warning, err := svc.CIVariables(ctx, admin, "tanuki/app", "registry.test", "http://deploytokens.test")
			if err != nil {
				t.Fatal(err)
			}
			hasSecret := false
			for _, v := range vars {
				if v.Key == "CI_DEPLOY_PASSWORD" || v.Key == "CI_DEPLOY_USER" {
					hasSecret = true
				}
			}
			if hasSecret != tt.wantSecret {
				t.Errorf("deploy variables present = %v, want %v (vars %v)", hasSecret, tt.wantSecret, keysOf(vars))
			}
			if tt.wantWarning == "" && warning != "" {
				t.Errorf("warning %q, want none", warning)
			}
			if tt.wantWarning != "" && !strings.Contains(warning, tt.wantWarning) {
				t.Errorf("warning %q, want it to mention %q", warning, tt.wantWarning)
			}
		})
	}
}

// TestCIVariablesNeedAPIScope: the CI token's secret can pull, push and
// clone on its own, so only a credential with the api scope gets it (a
// read_api one gets the other variables and a warning, issue 20 finding
// 2), and each hand-out leaves an audit line naming the reader, the PAT,
// the address, the project and the deploy token, never the secret.
func TestCIVariablesNeedAPIScope(t *testing.T) {
	ctx := context.Background()
	s, keys := openStore(t)
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	svc := &tokens.Service{Store: s, Keys: keys, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	root := tokens.User{Username: "root", Name: "root", Admin: true, CreatedAt: now}
	dev := tokens.User{Username: "dev", Name: "dev", CreatedAt: now}
	for _, u := range []*tokens.User{&root, &dev} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	admin := &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	if _, err := svc.CreateProject(ctx, admin, tokens.CreateProjectInput{Path: "app", NamespacePath: "tanuki"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetMember(ctx, admin, "tanuki/app", dev.ID, tokens.Developer, true); err != nil {
		t.Fatal(err)
	}
	ci, secret, err := svc.CreateDeployToken(ctx, admin, "tanuki/app", tokens.CreateDeployTokenInput{
		Name: tokens.CITokenName, Scopes: []string{"read_registry", "write_registry"},
	})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		scopes      []string
		wantSecret  bool
		wantWarning string
	}{
		{"read_api", []string{tokens.ScopeReadAPI}, false, "api scope"},
		{"read_api and read_repository", []string{tokens.ScopeReadAPI, "read_repository"}, false, "api scope"},
		{"api", []string{tokens.ScopeAPI}, true, ""},
		{"api and read_api", []string{tokens.ScopeReadAPI, tokens.ScopeAPI}, true, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			pat := &tokens.PersonalAccessToken{ID: int64(100 + i), UserID: dev.ID, Scopes: tt.scopes}
			a := &tokens.Actor{User: dev, Scopes: tt.scopes, PAT: pat, From: "192.0.2.7"}
			vars, warning, err := svc.CIVariables(ctx, a, "tanuki/app", "registry.test", "http://deploytokens.test")
			if err != nil {
				t.Fatal(err)
			}
			var password string
			for _, v := range vars {
				if v.Key == "CI_DEPLOY_PASSWORD" {
					password = v.Value
				}
			}
			if got := password != ""; got != tt.wantSecret || (got && password != secret.Reveal()) {
				t.Errorf("CI_DEPLOY_PASSWORD handed out = %v, want %v (vars %v)", got, tt.wantSecret, keysOf(vars))
			}
			if !slices.Contains(keysOf(vars), "CI_REGISTRY_IMAGE") {
				t.Errorf("vars %v lack CI_REGISTRY_IMAGE", keysOf(vars))
			}
			if (tt.wantWarning == "") != (warning == "") || !strings.Contains(warning, tt.wantWarning) {
				t.Errorf("warning %q, want one mentioning %q", warning, tt.wantWarning)
			}
			line := logs.String()
			if strings.Contains(line, secret.Reveal()) {
				t.Fatalf("the log holds the secret: %s", line)
			}
			if !tt.wantSecret {
				if strings.Contains(line, "handed out") {
					t.Errorf("audit line without a hand-out: %s", line)
				}
				return
			}
			for _, want := range []string{`msg="CI deploy password handed out"`, "by=dev", fmt.Sprintf("user_id=%d", dev.ID),
				fmt.Sprintf("pat_id=%d", pat.ID), "from=192.0.2.7", "project=tanuki/app", fmt.Sprintf("token_id=%d", ci.ID)} {
				if !strings.Contains(line, want) {
					t.Errorf("audit line lacks %s: %s", want, line)
				}
			}
		})
	}
}

func keysOf(vars []tokens.CIVariable) []string {
	var ks []string
	for _, v := range vars {
		ks = append(ks, v.Key)
	}
	return ks
}

package tokens_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestCIVariablesSkipExpiredToken checks that a gitlab-deploy-token past
// its expiry, though never revoked, is not handed to CI jobs: its secret
// would be refused at login anyway, and the warning tells the job why.
func TestCIVariablesSkipExpiredToken(t *testing.T) {
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "ci.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var raw [32]byte
	rand.Read(raw[:])
	keys, err := tokens.NewKeys([]byte(hex.EncodeToString(raw[:])))
	if err != nil {
		t.Fatal(err)
	}
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

func keysOf(vars []tokens.CIVariable) []string {
	var ks []string
	for _, v := range vars {
		ks = append(ks, v.Key)
	}
	return ks
}

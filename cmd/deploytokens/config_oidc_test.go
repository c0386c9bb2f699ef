package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigOIDC(t *testing.T) {
	tests := []struct {
		name    string
		issuers string
		maxAge  time.Duration
		want    []string // derived issuers
		err     string
	}{
		{"none", "", 6 * time.Hour, nil, ""},
		{"github and gitlab", "https://token.actions.githubusercontent.com, https://gitlab.com", 6 * time.Hour,
			[]string{"https://token.actions.githubusercontent.com", "https://gitlab.com"}, ""},
		{"http on loopback", "http://127.0.0.1:4444/", 6 * time.Hour, []string{"http://127.0.0.1:4444/"}, ""},
		{"http elsewhere", "http://gitlab.example.com", 6 * time.Hour, nil, "an issuer must be https"},
		{"not a URL", "gitlab.com", 6 * time.Hour, nil, "is not an issuer URL"},
		{"query", "https://gitlab.com/?a=b", 6 * time.Hour, nil, "is not an issuer URL"},
		{"twice", "https://gitlab.com,https://gitlab.com", 6 * time.Hour, nil, "is given twice"},
		{"max age too short", "", time.Second, nil, "--oidc-max-age (DEPLOYTOKENS_OIDC_MAX_AGE): must be between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			c.DataDir = t.TempDir()
			c.OIDCIssuers, c.OIDCMaxAge = tt.issuers, tt.maxAge
			err := c.Validate()
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("Validate: %v; want %q", err, tt.err)
			case tt.err == "" && !slices.Equal(c.oidcIssuers, tt.want):
				t.Errorf("issuers %q; want %q", c.oidcIssuers, tt.want)
			}
			if tt.err != "" && !strings.Contains(err.Error(), "DEPLOYTOKENS_OIDC_") {
				t.Errorf("the error does not name the setting: %v", err)
			}
		})
	}
}

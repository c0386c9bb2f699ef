package tokens_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestParseExpiryBounds checks the edges of expires_at: a token that would
// be expired the moment it is created is refused, and so is an expiry whose
// UTC year has five digits, which no YYYY-MM-DD form (or store) can carry.
func TestParseExpiryBounds(t *testing.T) {
	midnight := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      string
		now     time.Time
		wantErr bool
	}{
		{"today at exactly midnight", "2030-06-01", midnight, true},
		{"today as rfc 3339 at now", "2030-06-01T00:00:00Z", midnight, true},
		{"one nanosecond after now", "2030-06-01T00:00:00.000000001Z", midnight, false},
		{"tomorrow", "2030-06-02", midnight, false},
		{"last instant of year 9999", "9999-12-31T23:59:59Z", midnight, false},
		// 23:30 at -01:00 is 00:30 on 10000-01-01 in UTC.
		{"year 10000 in utc", "9999-12-31T23:30:00-01:00", midnight, true},
		{"offset", "2030-06-02T05:30:00.5+05:30", midnight, false},
		{"ten fraction digits", "2030-06-02T00:00:00.1234567891Z", midnight, false},
		// What time.Parse reads but RFC 3339 does not allow.
		{"one-digit hour", "2030-06-02T1:00:00Z", midnight, true},
		{"comma before the fraction", "2030-06-02T00:00:00,5Z", midnight, true},
		{"offset minutes past 59", "2030-06-02T00:00:00+00:60", midnight, true},
		{"offset hours past 23", "2030-06-02T00:00:00+24:00", midnight, true},
		{"no seconds", "2030-06-02T00:00Z", midnight, true},
		{"one-digit month", "2030-6-02", midnight, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tokens.ParseExpiry("expires_at", tt.in, tt.now)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseExpiry(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseExpiry(%q): %v", tt.in, err)
			}
		})
	}
}

// TestReservedFirstSegments: a first segment one of the server's routes
// starts with is no user's, group's or project's, in any case.
func TestReservedFirstSegments(t *testing.T) {
	tests := []struct {
		name, path string
		wantErr    bool
	}{
		{"groups as a namespace", "groups/app", true},
		{"groups in capitals", "Groups/app", true},
		{"groups below the top", "corp/groups/app", false},
		{"a name starting with groups", "groupsx/app", false},
		{"api", "api/app", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tokens.ValidateProjectPath("path", tt.path); (err != nil) != tt.wantErr {
				t.Fatalf("ValidateProjectPath(%q) = %v, want error %v", tt.path, err, tt.wantErr)
			}
			top, _, _ := strings.Cut(tt.path, "/")
			if err := tokens.ValidateUsername(top); (err != nil) != (tt.wantErr) {
				t.Fatalf("ValidateUsername(%q) = %v, want error %v", top, err, tt.wantErr)
			}
		})
	}
}

// The CI token implies read_registry, so it may be created without scopes;
// any other token still must name its scopes.
func TestCITokenScopesDefault(t *testing.T) {
	svc := &tokens.Service{}
	tests := []struct {
		name, token string
		scopes      []string
		want        []string
		wantErr     bool
	}{
		{"ci token without scopes", tokens.CITokenName, nil, []string{tokens.ScopeReadRegistry}, false},
		{"ci token keeps its scopes", tokens.CITokenName, []string{tokens.ScopeReadRepository}, []string{tokens.ScopeReadRepository}, false},
		{"other token without scopes", "deployer", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := svc.ValidateDeployToken(tokens.CreateDeployTokenInput{Name: tt.token, Scopes: tt.scopes})
			if (len(errs) > 0) != tt.wantErr {
				t.Fatalf("errors %v, want error %v", errs, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(got.Scopes, tt.want) {
				t.Fatalf("scopes %v, want %v", got.Scopes, tt.want)
			}
		})
	}
}

package tokens

import (
	"strings"
	"testing"
)

func TestValidateFederatedIdentity(t *testing.T) {
	const iss = "https://token.actions.githubusercontent.com"
	allowed := []string{iss}
	tests := []struct {
		name    string
		in      FederatedIdentityInput
		issuers []string
		want    string // the first error's text; "" for none
	}{
		{"github repository and ref", FederatedIdentityInput{iss, "deploytokens", map[string]string{"repository": "org/repo", "ref": "refs/heads/main"}}, allowed, ""},
		{"sub glob with a literal prefix", FederatedIdentityInput{iss, "deploytokens", map[string]string{"sub": "repo:org/repo:*"}}, allowed, ""},
		{"kubernetes service account", FederatedIdentityInput{iss, "deploytokens", map[string]string{"sub": "system:serviceaccount:ns:name"}}, allowed, ""},
		{"missing issuer", FederatedIdentityInput{"", "a", map[string]string{"sub": "x"}}, allowed, "issuer is missing"},
		{"issuer not allowed", FederatedIdentityInput{"https://evil.example", "a", map[string]string{"sub": "x"}}, allowed, "issuer is not one of the OIDC issuers"},
		{"no issuer allowed at all", FederatedIdentityInput{iss, "a", map[string]string{"sub": "x"}}, nil, "issuer is not allowed: the administrator allows no OIDC issuer"},
		{"missing audience", FederatedIdentityInput{iss, "", map[string]string{"sub": "x"}}, allowed, "audience is missing"},
		{"audience glob", FederatedIdentityInput{iss, "deploy*", map[string]string{"sub": "x"}}, allowed, "audience must be exact"},
		{"audience with a space", FederatedIdentityInput{iss, "a b", map[string]string{"sub": "x"}}, allowed, "audience must not contain spaces"},
		{"no claims", FederatedIdentityInput{iss, "a", nil}, allowed, "claims must name at least one claim condition"},
		{"no subject claim", FederatedIdentityInput{iss, "a", map[string]string{"ref": "refs/heads/main"}}, allowed, "claims must constrain a subject claim"},
		{"glob matching everything", FederatedIdentityInput{iss, "a", map[string]string{"sub": "*"}}, allowed, "claims[sub] is a glob that matches everything"},
		{"glob matching everything, doubled", FederatedIdentityInput{iss, "a", map[string]string{"repository": "x", "ref": "**"}}, allowed, "claims[ref] is a glob that matches everything"},
		{"subject glob without a literal start", FederatedIdentityInput{iss, "a", map[string]string{"sub": "*:prod"}}, allowed, "claims[sub] must start with a literal part"},
		{"subject glob after a space only", FederatedIdentityInput{iss, "a", map[string]string{"sub": " *"}}, allowed, "claims[sub] must start with a literal part"},
		{"subject glob after an invisible character only", FederatedIdentityInput{iss, "a", map[string]string{"sub": "\u200b*"}}, allowed, "claims[sub] must start with a literal part"},
		{"empty value", FederatedIdentityInput{iss, "a", map[string]string{"sub": ""}}, allowed, "claims[sub] is empty"},
		{"bad claim name", FederatedIdentityInput{iss, "a", map[string]string{"sub": "x", "a b": "c"}}, allowed, `claims has a claim name "a b"`},
		{"condition on a verified claim", FederatedIdentityInput{iss, "a", map[string]string{"sub": "x", "aud": "y"}}, allowed, "claims[aud] cannot be a condition"},
		{"control character", FederatedIdentityInput{iss, "a", map[string]string{"sub": "x\ny"}}, allowed, "claims[sub] must not contain control characters"},
		{"value too long", FederatedIdentityInput{iss, "a", map[string]string{"sub": strings.Repeat("x", 513)}}, allowed, "claims[sub] is too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := ValidateFederatedIdentity(tt.in, tt.issuers)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Fatalf("errors %v; want none", errs)
			case tt.want != "" && len(errs) == 0:
				t.Fatalf("no error; want %q", tt.want)
			case tt.want != "" && !strings.HasPrefix(errs[0].Error(), tt.want):
				t.Fatalf("first error %q; want %q", errs[0], tt.want)
			case tt.want != "" && KindOf(errs[0]) != KindInvalid:
				t.Fatalf("kind %v; want KindInvalid", KindOf(errs[0]))
			}
		})
	}
}

func TestFederatedIdentityMatchClaims(t *testing.T) {
	f := FederatedIdentity{Claims: map[string]string{"sub": "repo:org/app:ref:refs/heads/*", "ref_protected": "true", "groups": "ops"}}
	tests := []struct {
		name   string
		claims map[string]any
		want   bool
	}{
		{"all hold", map[string]any{"sub": "repo:org/app:ref:refs/heads/main", "ref_protected": "true", "groups": []any{"dev", "ops"}}, true},
		{"boolean claim as JSON true", map[string]any{"sub": "repo:org/app:ref:refs/heads/a/b", "ref_protected": true, "groups": "ops"}, true},
		{"glob does not cross the literal", map[string]any{"sub": "repo:org/app2:ref:refs/heads/main", "ref_protected": true, "groups": "ops"}, false},
		{"one condition fails", map[string]any{"sub": "repo:org/app:ref:refs/heads/main", "ref_protected": false, "groups": "ops"}, false},
		{"claim missing", map[string]any{"sub": "repo:org/app:ref:refs/heads/main", "groups": "ops"}, false},
		{"nested list does not count", map[string]any{"sub": "repo:org/app:ref:refs/heads/main", "ref_protected": "true", "groups": []any{[]any{"ops"}}}, false},
		{"object does not count", map[string]any{"sub": map[string]any{"x": 1}, "ref_protected": "true", "groups": "ops"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := f.MatchClaims(tt.claims); got != tt.want {
				t.Errorf("MatchClaims = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"a", "a", true}, {"a", "ab", false}, {"a*", "abc/d", true}, {"*c", "abc", true}, {"a*c", "ac", true},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxc", false}, {"ab*ba", "aba", false}, {"a?c", "abc", false},
		{"refs/heads/[m]ain", "refs/heads/[m]ain", true}, {"*", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.s, func(t *testing.T) {
			if got := GlobMatch(tt.pattern, tt.s); got != tt.want {
				t.Errorf("GlobMatch(%q, %q) = %v; want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}

// FuzzGlobMatch: GlobMatch never panics, is exact without *, and *x* finds
// any x.
func FuzzGlobMatch(f *testing.F) {
	for _, s := range [][2]string{{"refs/heads/*", "refs/heads/main"}, {"a*b*c", "abc"}, {"**", ""}, {"*x*", "yxy"}, {"ab*ba", "aba"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := GlobMatch(pattern, s)
		if !strings.Contains(pattern, "*") && got != (pattern == s) {
			t.Fatalf("GlobMatch(%q, %q) = %v without a *", pattern, s, got)
		}
		if lit := strings.ReplaceAll(pattern, "*", ""); !GlobMatch("*"+lit+"*", s) && strings.Contains(s, lit) {
			t.Fatalf("GlobMatch(*%s*, %q) is false", lit, s)
		}
		if !strings.Contains(s, "*") && !GlobMatch(s, s) {
			t.Fatalf("GlobMatch(%q, itself) is false", s)
		}
	})
}

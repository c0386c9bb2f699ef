package tokens_test

import (
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// TestTokenStopsAtExpiresAt pins the boundary: a token works up to, but not
// at, its ExpiresAt (00:00 UTC of the expiry date, as GitLab does). Being
// off by one instant would let a token expiring "on" a date still work at
// the stroke of midnight.
func TestTokenStopsAtExpiresAt(t *testing.T) {
	exp := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"one nanosecond before", exp.Add(-time.Nanosecond), true},
		{"exactly at expiry", exp, false},
		{"after expiry", exp.Add(time.Nanosecond), false},
	}
	for _, tt := range tests {
		t.Run("deploy token "+tt.name, func(t *testing.T) {
			dt := &tokens.DeployToken{ExpiresAt: &exp}
			if got := dt.Active(tt.now); got != tt.want {
				t.Errorf("Active(%v) = %v, want %v", tt.now, got, tt.want)
			}
			if got := dt.Expired(tt.now); got == tt.want {
				t.Errorf("Expired(%v) = %v, want %v", tt.now, got, !tt.want)
			}
		})
		t.Run("personal access token "+tt.name, func(t *testing.T) {
			pat := &tokens.PersonalAccessToken{ExpiresAt: &exp}
			if got := pat.Active(tt.now); got != tt.want {
				t.Errorf("Active(%v) = %v, want %v", tt.now, got, tt.want)
			}
		})
	}
}

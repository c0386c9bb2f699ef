package boltstore_test

import (
	"strings"
	"testing"
)

// TestTokenUsernamesOnOlderFiles: a file written before the index of
// deploy tokens by username (the fixture) gets it filled when opened.
func TestTokenUsernamesOnOlderFiles(t *testing.T) {
	s := openFixture(t, "2026-12-08.db")
	for _, want := range fxTokens {
		t.Run(want.Username, func(t *testing.T) {
			ts, err := s.DeployTokensByUsername(t.Context(), strings.ToUpper(want.Username))
			if err != nil || len(ts) != 1 || ts[0].ID != want.ID {
				t.Errorf("DeployTokensByUsername = %v, %v; want token %d", ts, err, want.ID)
			}
		})
	}
}

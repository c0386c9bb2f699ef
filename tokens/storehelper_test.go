package tokens_test

import (
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// openStore answers a fresh embedded store, closed when t ends, and keys
// from a random server secret: what a service test runs on.
func openStore(t *testing.T) (*boltstore.Store, *tokens.Keys) {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		t.Fatal(err)
	}
	keys, err := tokens.NewKeys([]byte(hex.EncodeToString(raw[:])))
	if err != nil {
		t.Fatal(err)
	}
	return s, keys
}

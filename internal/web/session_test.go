package web

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

// TestSessionStoreFormat: sessions are stored as earlier versions stored
// them, under the digest of their secret, and flashes are read once.
func TestSessionStoreFormat(t *testing.T) {
	kv, err := boltstore.Open(filepath.Join(t.TempDir(), "deploytokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	keys, err := tokens.NewKeys([]byte(strings.Repeat("session store test ", 2)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s := sessionStore{kv: kv, keys: keys}
	key := func(secret string) string { return tokens.SessionKey(keys.Digest(secret)) }

	if err := s.create(ctx, "new", session{UserID: 7, Scopes: []string{tokens.ScopeAPI}, PATDigest: []byte{1, 2}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get(ctx, key("new")); err != nil || string(v) != `{"user_id":7,"scopes":["api"],"pat_digest":"AQI="}` {
		t.Fatalf("stored session = %q, %v", v, err)
	}
	for secret, v := range map[string]string{"old": `{"user_id":3,"scopes":["read_api"],"pat_digest":"Aw=="}`, "foreign": `{"user_id":0}`, "garbled": `{`} {
		if err := kv.Create(ctx, key(secret), []byte(v), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		secret string
		want   int64 // user ID; 0: no session
		write  bool
	}{
		{"new", 7, true},
		{"old", 3, false},
		{"foreign", 0, false},
		{"garbled", 0, false},
		{"absent", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			got, err := s.get(ctx, tt.secret)
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == 0) || (got != nil && (got.UserID != tt.want || got.canWrite() != tt.write)) {
				t.Errorf("get = %+v, want user %d (may write: %v)", got, tt.want, tt.write)
			}
		})
	}
	if err := s.delete(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.get(ctx, "new"); got != nil || err != nil {
		t.Errorf("get after delete = %+v, %v", got, err)
	}

	id, err := s.putFlash(ctx, "old", flash{ProjectID: 4, Notice: "done"})
	if err != nil || !validFlashID(id) {
		t.Fatalf("putFlash = %q, %v", id, err)
	}
	if f, err := s.takeFlash(ctx, "new", id); f != nil || err != nil {
		t.Errorf("another session took the flash: %+v, %v", f, err)
	}
	if f, err := s.takeFlash(ctx, "old", id); err != nil || f == nil || f.Notice != "done" || f.ProjectID != 4 {
		t.Errorf("takeFlash = %+v, %v", f, err)
	}
	if f, err := s.takeFlash(ctx, "old", id); f != nil || err != nil {
		t.Errorf("a flash was taken twice: %+v, %v", f, err)
	}
}

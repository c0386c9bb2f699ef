package auth

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

func openKV(t *testing.T) tokens.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "deploytokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestBanStoreFormat: bans are stored as earlier versions stored them
// (Unix seconds), so replicas of both read each other's.
func TestBanStoreFormat(t *testing.T) {
	kv := openKV(t)
	ctx := t.Context()
	bans := banStore{kv}
	until := time.Unix(1_800_000_000, 0)
	l := &Limiter{KV: kv, Max: 1, Window: time.Minute, Ban: time.Hour, Now: func() time.Time { return until.Add(-time.Hour) }}
	if err := l.Failed(ctx, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get(ctx, tokens.BanKey("192.0.2.1")); err != nil || string(v) != "1800000000" {
		t.Fatalf("stored ban = %q, %v; want 1800000000", v, err)
	}
	if err := kv.Create(ctx, tokens.BanKey("192.0.2.2"), []byte("by hand"), time.Hour); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, addr    string
		banned, valid bool
		until         time.Time
	}{
		{"written by the limiter", "192.0.2.1", true, true, until},
		{"written by hand", "192.0.2.2", true, false, time.Time{}},
		{"none", "192.0.2.3", false, false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, banned, err := bans.get(ctx, tt.addr)
			if err != nil || banned != tt.banned || b.valid != tt.valid || !b.until.Equal(tt.until) {
				t.Errorf("get = %+v, %v, %v; want banned %v, valid %v until %v", b, banned, err, tt.banned, tt.valid, tt.until)
			}
		})
	}
	for i := range 3 {
		if n, err := kv.Get(ctx, tokens.FailKey("192.0.2.1")); err != nil || string(n) != strconv.Itoa(i+1) {
			t.Fatalf("failure %d counted as %q, %v", i+1, n, err)
		}
		_ = l.Failed(ctx, "192.0.2.1")
	}
}

// TestRefreshStoreFormat: refresh tokens are stored as earlier versions
// stored them, and a record this code did not write is refused, not
// believed.
func TestRefreshStoreFormat(t *testing.T) {
	kv := openKV(t)
	ctx := t.Context()
	refreshes := refreshStore{kv}
	r := refresh{Username: "alice", Digest: []byte{1, 2, 0xfe}, DeployToken: true}
	if err := refreshes.create(ctx, []byte("refresh a"), r, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get(ctx, tokens.RefreshKey([]byte("refresh a"))); err != nil || string(v) != `{"u":"alice","d":"0102fe","t":true}` {
		t.Fatalf("stored refresh token = %q, %v", v, err)
	}
	for key, v := range map[string]string{
		"pat": `{"u":"bob","d":"0a"}`, "not json": `{`, "not hex": `{"u":"bob","d":"zz"}`,
	} {
		if err := kv.Create(ctx, tokens.RefreshKey([]byte(key)), []byte(v), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		want    refresh
		wantErr error
	}{
		{"refresh a", r, nil},
		{"pat", refresh{Username: "bob", Digest: []byte{0x0a}}, nil},
		{"not json", refresh{}, errRefreshRecord},
		{"not hex", refresh{}, errRefreshRecord},
		{"absent", refresh{}, tokens.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := refreshes.renew(ctx, []byte(tt.name))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) ||
				got.Username != tt.want.Username || string(got.Digest) != string(tt.want.Digest) || got.DeployToken != tt.want.DeployToken {
				t.Errorf("renew = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if err := refreshes.delete(ctx, []byte("refresh a")); err != nil {
		t.Fatal(err)
	}
	if _, err := refreshes.renew(ctx, []byte("refresh a")); !errors.Is(err, tokens.ErrNotFound) {
		t.Errorf("renew after delete: %v, want ErrNotFound", err)
	}
	for i := range 2 {
		if n, err := refreshes.countIssued(ctx, []byte("credential")); err != nil || n != int64(i+1) {
			t.Fatalf("refresh token %d counted as %d, %v", i+1, n, err)
		}
	}
}

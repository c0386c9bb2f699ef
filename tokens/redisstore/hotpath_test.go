package redisstore_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// TestDeployTokenByDigestAndGet checks the combined lookup against the two
// calls it stands for, and that it is one command.
func TestDeployTokenByDigestAndGet(t *testing.T) {
	s, c := startStore(t)
	ctx := t.Context()
	u := tokens.User{Username: "u"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	var ps [2]tokens.Project
	for i, path := range []string{"g/kept", "g/deleted"} {
		ps[i] = tokens.Project{PathWithNamespace: path, Visibility: tokens.Private}
		if err := s.CreateProject(ctx, &ps[i], tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
			t.Fatal(err)
		}
		d := tokens.DeployToken{ProjectID: ps[i].ID, Name: path, Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte("digest of " + path)}
		if err := s.CreateDeployToken(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteProject(ctx, ps[1].ID); err != nil {
		t.Fatal(err)
	}
	for key, v := range map[string]string{"set": "1700000000", "empty": ""} {
		if err := s.Create(ctx, key, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	// The first call on a server may load the script.
	if _, _, _, _, err := s.DeployTokenByDigestAndGet(ctx, "set", []byte("digest of g/kept"), ""); err != nil {
		t.Fatal(err)
	}
	h := &testenv.RoundTrips{}
	c.AddHook(h)

	tests := []struct {
		name   string
		key    string
		digest string
	}{
		{"value and token", "set", "digest of g/kept"},
		{"empty value", "empty", "digest of g/kept"},
		{"no value", "absent", "digest of g/kept"},
		{"unknown digest", "set", "unknown"},
		{"project deleted with its tokens", "absent", "digest of g/deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantV, wantVErr := s.Get(ctx, tt.key)
			wantT, wantP, wantErr := s.DeployTokenByDigest(ctx, []byte(tt.digest))
			h.Reset()
			v, vErr, tok, p, err := s.DeployTokenByDigestAndGet(ctx, tt.key, []byte(tt.digest), "")
			if n := h.N(); n != 1 {
				t.Errorf("sent %d commands, want 1", n)
			}
			if string(v) != string(wantV) || (v == nil) != (wantV == nil) || errors.Is(vErr, tokens.ErrNotFound) != errors.Is(wantVErr, tokens.ErrNotFound) {
				t.Errorf("value %q, %v; Get answers %q, %v", v, vErr, wantV, wantVErr)
			}
			if (err == nil) != (wantErr == nil) || errors.Is(err, tokens.ErrNotFound) != errors.Is(wantErr, tokens.ErrNotFound) {
				t.Errorf("token error %v; DeployTokenByDigest answers %v", err, wantErr)
			}
			if !reflect.DeepEqual(tok, wantT) || p != wantP {
				t.Errorf("token %+v of %+v; DeployTokenByDigest answers %+v of %+v", tok, p, wantT, wantP)
			}
		})
	}
}

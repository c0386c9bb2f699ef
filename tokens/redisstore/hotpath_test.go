package redisstore_test

import (
	"testing"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
)

// TestDeployTokenForAuthOneCommand pins the hot path's read to one
// command, whatever it finds (the conformance suite checks what it
// answers).
func TestDeployTokenForAuthOneCommand(t *testing.T) {
	s, c := startStore(t)
	ctx := t.Context()
	u := tokens.User{Username: "u"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{PathWithNamespace: "g/kept", Visibility: tokens.Private}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	d := tokens.DeployToken{ProjectID: p.ID, Name: "d", Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte("digest")}
	if err := s.CreateDeployToken(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, tokens.BanKey("192.0.2.1"), []byte("1700000000"), 0); err != nil {
		t.Fatal(err)
	}
	// The first call on a server may load the script.
	if _, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: d.Digest, Addr: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	h := &testenv.RoundTrips{}
	c.AddHook(h)

	tests := []struct {
		name   string
		q      tokens.DeployTokenQuery
		found  bool
		banned bool
	}{
		{"token and ban", tokens.DeployTokenQuery{Digest: d.Digest, Addr: "192.0.2.1"}, true, true},
		{"token, no ban", tokens.DeployTokenQuery{Digest: d.Digest, Addr: "192.0.2.2"}, true, false},
		{"token, no address", tokens.DeployTokenQuery{Digest: d.Digest}, true, false},
		{"unknown digest", tokens.DeployTokenQuery{Digest: []byte("unknown"), Addr: "192.0.2.1"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.Reset()
			a, err := s.DeployTokenForAuth(ctx, tt.q)
			if err != nil || a.Found != tt.found || a.Banned != tt.banned {
				t.Errorf("found %v, banned %v, %v; want found %v, banned %v", a.Found, a.Banned, err, tt.found, tt.banned)
			}
			if n := h.N(); n != 1 {
				t.Errorf("sent %d commands, want 1", n)
			}
		})
	}
}

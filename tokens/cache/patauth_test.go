package cache_test

import (
	"testing"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/cache"
)

// TestRefusalsTakeOnePathThroughTheCache: a personal access token is
// looked up in memory as a deploy token is, then read from Redis, every
// time (PATs are never cached), so that a refusal of either kind does
// the same work in the cache and its time does not tell the kind (issue
// 20, finding 6). Counted, not timed.
func TestRefusalsTakeOnePathThroughTheCache(t *testing.T) {
	e := newCacheEnv(t, 100)
	ctx := t.Context()
	d := e.token(t, "a")
	u := tokens.User{Username: "alice"}
	if err := e.other.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	pat := tokens.PersonalAccessToken{UserID: u.ID, Name: "laptop", Scopes: []string{tokens.ScopeAPI}, Digest: []byte("pat digest")}
	if err := e.other.CreatePAT(ctx, &pat); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		read  func() (bool, error)
		found bool
	}{
		{"deploy token, wrong username", func() (bool, error) {
			a, err := e.cached.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: d.Digest, Username: "someone", Addr: "192.0.2.1"})
			return a.Found, err
		}, true},
		{"unknown deploy token", func() (bool, error) {
			a, err := e.cached.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: []byte("unknown"), Username: d.Username, Addr: "192.0.2.1"})
			return a.Found, err
		}, false},
		{"personal access token", func() (bool, error) {
			a, err := e.cached.PATForAuth(ctx, tokens.PATAuthQuery{Digest: pat.Digest, Addr: "192.0.2.1"})
			return a.Found, err
		}, true},
		{"unknown personal access token", func() (bool, error) {
			a, err := e.cached.PATForAuth(ctx, tokens.PATAuthQuery{Digest: []byte("unknown"), Addr: "192.0.2.1"})
			return a.Found, err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second time too: nothing refused is cached
				before := cache.Lookups(e.cached)
				found, err := tt.read()
				if err != nil || found != tt.found {
					t.Fatalf("found %v, %v; want found %v", found, err, tt.found)
				}
				if n := cache.Lookups(e.cached) - before; n != 1 {
					t.Errorf("%d lookups in memory, want 1", n)
				}
			}
		})
	}
}

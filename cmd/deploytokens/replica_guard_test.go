package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// TestCutOffReplicaRefusesSecurityWrites: with the master's replica cut
// off (it could still be promoted without what the master takes now),
// every security write is refused 503 rather than acknowledged: a
// revocation, a deploy token's rotation that ends the old secret at once,
// a PAT's rotation; and so is a revocation through a server process that
// started after the cut and never saw the replica itself (another
// replica of deploytokens, or one restarted), since whether the master had
// a replica is kept in Redis, not in one process's memory. Found in
// review: rotations were acknowledged alone, and the guard lived in the
// memory of the process that had last written.
func TestCutOffReplicaRefusesSecurityWrites(t *testing.T) {
	st := testenv.StartSentinel(t)
	a := startServer(t, func(c *Config) { c.RedisURL, c.AuthMaxFailures = st.URL(), 1_000_000 })
	a.project(t, a.AdminToken, "lag/app", "private")
	rotated := a.deployToken(t, a.AdminToken, "lag/app", map[string]any{"name": "rotated", "scopes": []string{"read_registry"}})
	revokedA := a.deployToken(t, a.AdminToken, "lag/app", map[string]any{"name": "a", "scopes": []string{"read_registry"}})
	revokedB := a.deployToken(t, a.AdminToken, "lag/app", map[string]any{"name": "b", "scopes": []string{"read_registry"}})
	_, pat := a.user(t, "alice", "api")
	var pats []struct {
		ID int64 `json:"id"`
	}
	a.mustAPI(t, 200, "GET", "/personal_access_tokens", pat, nil, &pats)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	master, err := st.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replica := st.Replica(master)
	replica.Pause()
	defer replica.Resume()
	if _, err := master.Do(ctx, "CLIENT", "KILL", "TYPE", "replica"); err != nil {
		t.Fatal(err)
	}
	// A server process that starts after the cut.
	b := startServer(t, func(c *Config) {
		c.RedisURL, c.AuthMaxFailures = st.URL(), 1_000_000
		c.SecretFile = filepath.Join(a.cfg.DataDir, "secret")
	})
	tokenPath := func(id int64) string { return "/projects/lag%2Fapp/deploy_tokens/" + strconv.FormatInt(id, 10) }
	for _, w := range []struct {
		name string
		s    *testServer
		do   func(s *testServer) apiResponse
	}{
		{"revocation", a, func(s *testServer) apiResponse { return s.api(t, "DELETE", tokenPath(revokedA.ID), s.AdminToken, nil) }},
		{"rotation ending the old secret", a, func(s *testServer) apiResponse {
			return s.api(t, "POST", tokenPath(rotated.ID)+"/rotate?grace=0", s.AdminToken, nil)
		}},
		{"PAT rotation", a, func(s *testServer) apiResponse {
			return s.api(t, "POST", fmt.Sprintf("/personal_access_tokens/%d/rotate", pats[0].ID), pat, nil)
		}},
		{"revocation through a server started after the cut", b, func(s *testServer) apiResponse {
			return s.api(t, "DELETE", tokenPath(revokedB.ID), s.AdminToken, nil)
		}},
	} {
		t.Run(w.name, func(t *testing.T) {
			if r := w.do(w.s); r.Status != http.StatusServiceUnavailable {
				t.Errorf("answered %d with the replica cut off, want 503: %s", r.Status, r.Body)
			}
		})
	}
}

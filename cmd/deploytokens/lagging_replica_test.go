package main

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
)

// TestLaggingReplicaRevocation cuts the replica off a real Sentinel
// master, revokes a token and creates another, then kills the master so
// that the sentinels promote the replica that never got them: a revocation
// acknowledged with 204 must stay refused, and a creation acknowledged with
// 201 must still exist and its id must not be handed out again. Refusing
// them with 503 (kept or not) is the other right answer. Before issue 21
// the revoked token worked again and its creation's id was reused.
func TestLaggingReplicaRevocation(t *testing.T) {
	st := testenv.StartSentinel(t)
	s := startServer(t, func(c *Config) { c.RedisURL, c.AuthMaxFailures = st.URL(), 1_000_000 })
	s.project(t, s.AdminToken, "lag/app", "private")
	victim := s.deployToken(t, s.AdminToken, "lag/app", map[string]any{"name": "victim", "scopes": []string{"read_registry"}})
	if st := jwtStatus(t, s, victim.Username, victim.Token, "lag/app"); st != http.StatusOK {
		t.Fatalf("token before the revocation: %d", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	master, err := st.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replica := st.Replica(master)
	// The replica hangs, so it cannot reconnect, and the master drops
	// its link: what the master writes now reaches no replica.
	replica.Pause()
	if _, err := master.Do(ctx, "CLIENT", "KILL", "TYPE", "replica"); err != nil {
		t.Fatal(err)
	}

	revoke := s.api(t, "DELETE", "/projects/lag%2Fapp/deploy_tokens/"+strconv.FormatInt(victim.ID, 10), s.AdminToken, nil)
	create := s.api(t, "POST", "/projects/lag%2Fapp/deploy_tokens", s.AdminToken, map[string]any{"name": "late", "scopes": []string{"read_registry"}})
	t.Logf("while the replica was cut off: revocation %d %s, creation %d %s", revoke.Status, revoke.Body, create.Status, create.message())
	for _, r := range []apiResponse{revoke, create} {
		if r.Status == http.StatusServiceUnavailable && (r.Header.Get("Retry-After") == "" || r.message() == "") {
			t.Errorf("a 503 without Retry-After or message: %s", r.Body)
		}
	}
	var late deployTokenInfo
	if create.Status == http.StatusCreated {
		create.json(t, &late)
		s.remember(late.Token)
	}

	master.Kill()
	replica.Resume()
	st.WaitPromotion(master, 30*time.Second)

	// Wait until the server writes through the new master.
	deadline := time.Now().Add(10 * time.Second)
	var after deployTokenInfo
	for {
		r := s.api(t, "POST", "/projects/lag%2Fapp/deploy_tokens", s.AdminToken, map[string]any{"name": "after", "scopes": []string{"read_registry"}})
		if r.Status == http.StatusCreated {
			r.json(t, &after)
			s.remember(after.Token)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no creation succeeded after the promotion: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, tc := range []struct {
		name  string
		acked bool
		check func(t *testing.T)
	}{
		{"revocation", revoke.Status == http.StatusNoContent, func(t *testing.T) {
			if st := jwtStatus(t, s, victim.Username, victim.Token, "lag/app"); st == http.StatusOK {
				t.Errorf("the revoked token works again after the failover")
			}
		}},
		{"creation", create.Status == http.StatusCreated, func(t *testing.T) {
			if after.ID == late.ID {
				t.Errorf("id %d handed out again after the failover", late.ID)
			}
			if st := jwtStatus(t, s, late.Username, late.Token, "lag/app"); st != http.StatusOK {
				t.Errorf("the created token is gone after the failover: %d", st)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.acked {
				t.Logf("not acknowledged: nothing to keep")
				return
			}
			tc.check(t)
		})
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// promotionBound is how soon after a replica's promotion requests must
// succeed again (issue 21).
const promotionBound = 5 * time.Second

// topology is what the failover test needs of a Sentinel or a Cluster.
type topology struct {
	url string
	// master answers the node holding the store's data now.
	master func(ctx context.Context) (*testenv.RedisServer, error)
	// waitPromotion waits for another node to hold it.
	waitPromotion func(old *testenv.RedisServer) (*testenv.RedisServer, time.Time)
}

// TestFailoverUnderLoad kills -9 the Redis master holding the data, under a
// steady trickle of registry token requests, deploy token creations and
// revocations through a real server, on a real Sentinel and a real Cluster,
// and checks that requests succeed again within 5 s of the promotion,
// readiness says 503 while the data cannot be reached and 200 after, and no
// acknowledged creation or revocation is lost (nor an id handed out twice).
func TestFailoverUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) topology
	}{
		{"sentinel", func(t *testing.T) topology {
			st := testenv.StartSentinel(t)
			return topology{url: st.URL(), master: st.Master, waitPromotion: func(old *testenv.RedisServer) (*testenv.RedisServer, time.Time) {
				return st.WaitPromotion(old, 20*time.Second)
			}}
		}},
		{"cluster", func(t *testing.T) topology {
			cl := testenv.StartCluster(t)
			// A plain redis:// URL naming a cluster node is refused,
			// naming the URL that works.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := redisstore.New(ctx, redisstore.Options{URL: "redis://" + cl.Nodes[0].Addr() + "/0"}); err == nil || !strings.Contains(err.Error(), "redis+cluster://") {
				t.Errorf("redis:// to a cluster node: %v, want a refusal naming redis+cluster://", err)
			}
			return topology{url: cl.URL(), master: func(ctx context.Context) (*testenv.RedisServer, error) { return cl.MasterFor(ctx, "{dt}") },
				waitPromotion: func(old *testenv.RedisServer) (*testenv.RedisServer, time.Time) {
					return cl.WaitPromotion("{dt}", old, 20*time.Second)
				}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo := tc.start(t)
			// Revoked tokens tried at the end are failures; no ban may hide them.
			s := startServer(t, func(c *Config) { c.RedisURL, c.AuthMaxFailures = topo.url, 1_000_000 })
			s.project(t, s.AdminToken, "fo/app", "private")
			d0 := s.deployToken(t, s.AdminToken, "fo/app", map[string]any{"name": "pull", "scopes": []string{"read_registry"}})
			runFailover(t, s, topo, d0)
		})
	}
}

// sample is one request of the trickle: when it started and its status
// (0: no answer).
type sample struct {
	at     time.Time
	status int
}

type created struct {
	id             int64
	username, pass string
	revoked        bool // the revocation was acknowledged (204)
	// revokeUnsure: a revocation was asked and answered otherwise (a 503
	// saying it may or may not have been kept, or no answer), so either
	// outcome is right afterwards.
	revokeUnsure bool
}

func runFailover(t *testing.T, s *testServer, topo topology, d0 deployTokenInfo) {
	var (
		mu                   sync.Mutex
		tokenReqs, readiness []sample
		creates, revokes     []sample
		acked                []created
		stop                 = make(chan struct{})
		wg                   sync.WaitGroup
		client               = &http.Client{Timeout: 10 * time.Second}
		do                   = func(req *http.Request) (int, []byte) {
			resp, err := client.Do(req)
			if err != nil {
				return 0, nil
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		every = func(d time.Duration, f func()) {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(d):
					}
					f()
				}
			})
		}
	)
	every(20*time.Millisecond, func() {
		req, _ := http.NewRequest("GET", s.URL+"/jwt/auth?service="+s.cfg.RegistryService+"&scope=repository:fo/app:pull", nil)
		req.SetBasicAuth(d0.Username, d0.Token)
		at := time.Now()
		st, _ := do(req)
		mu.Lock()
		tokenReqs = append(tokenReqs, sample{at, st})
		mu.Unlock()
	})
	every(100*time.Millisecond, func() {
		req, _ := http.NewRequest("GET", s.URL+"/-/readiness", nil)
		at := time.Now()
		st, _ := do(req)
		mu.Lock()
		readiness = append(readiness, sample{at, st})
		mu.Unlock()
	})
	n := 0
	every(50*time.Millisecond, func() {
		n++
		js, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("t%d", n), "scopes": []string{"read_registry"}})
		req, _ := http.NewRequest("POST", s.URL+"/api/v4/projects/fo%2Fapp/deploy_tokens", bytes.NewReader(js))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("PRIVATE-TOKEN", s.AdminToken)
		at := time.Now()
		st, body := do(req)
		mu.Lock()
		creates = append(creates, sample{at, st})
		mu.Unlock()
		if st != http.StatusCreated {
			return
		}
		var d deployTokenInfo
		if json.Unmarshal(body, &d) != nil {
			return
		}
		c := created{id: d.ID, username: d.Username, pass: d.Token}
		if n%2 == 0 {
			req, _ := http.NewRequest("DELETE", fmt.Sprintf("%s/api/v4/projects/fo%%2Fapp/deploy_tokens/%d", s.URL, d.ID), nil)
			req.Header.Set("PRIVATE-TOKEN", s.AdminToken)
			at := time.Now()
			st, _ := do(req)
			c.revoked = st == http.StatusNoContent
			c.revokeUnsure = !c.revoked
			mu.Lock()
			revokes = append(revokes, sample{at, st})
			mu.Unlock()
		}
		mu.Lock()
		acked = append(acked, c)
		mu.Unlock()
	})

	time.Sleep(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	old, err := topo.master(ctx)
	cancel()
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("find the master: %v", err)
	}
	killed := time.Now()
	old.Kill()
	// The old master stays down: a node that came back would answer
	// MOVED (Cluster) and hide a client that never looks for the new
	// master by itself.
	_, promoted := topo.waitPromotion(old)
	time.Sleep(promotionBound + 2*time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("killed the master; promotion seen after %v", promoted.Sub(killed).Round(time.Millisecond))
	recovery := func(what string, ss []sample, ok int) {
		t.Helper()
		var first time.Time
		failed := 0
		for _, x := range ss {
			if x.at.Before(killed) {
				// One in flight when the master died may fail.
				if x.status != ok && x.at.Before(killed.Add(-time.Second)) {
					t.Errorf("%s before the kill: %d", what, x.status)
				}
				continue
			}
			if x.status != ok {
				failed++
				if x.at.After(promoted.Add(promotionBound)) {
					t.Errorf("%s %v after the promotion: %d", what, x.at.Sub(promoted).Round(time.Millisecond), x.status)
				}
			} else if first.IsZero() && x.at.After(promoted) {
				first = x.at
			}
		}
		if first.IsZero() {
			t.Errorf("%s: none succeeded after the promotion", what)
			return
		}
		t.Logf("%s: %d of %d failed; first success %v after the promotion", what, failed, len(ss), first.Sub(promoted).Round(time.Millisecond))
	}
	recovery("token request", tokenReqs, http.StatusOK)
	recovery("creation", creates, http.StatusCreated)
	recovery("readiness", readiness, http.StatusOK)
	down := false
	for _, x := range readiness {
		if x.at.After(killed) && x.at.Before(promoted) && x.status == http.StatusServiceUnavailable {
			down = true
		}
	}
	if !down {
		t.Error("readiness never said 503 between the kill and the promotion")
	}
	if last := readiness[len(readiness)-1]; last.status != http.StatusOK {
		t.Errorf("readiness at the end: %d", last.status)
	}

	// Nothing acknowledged is lost: every created token still works
	// but those whose revocation was acknowledged, which stay refused;
	// and no id was handed out twice.
	seen := map[int64]bool{}
	revoked := 0
	for _, c := range acked {
		if seen[c.id] {
			t.Errorf("id %d handed out twice", c.id)
		}
		seen[c.id] = true
		want := http.StatusOK
		if c.revoked {
			want, revoked = http.StatusUnauthorized, revoked+1
		}
		st := jwtStatus(t, s, c.username, c.pass, "fo/app")
		if c.revokeUnsure && (st == http.StatusOK || st == http.StatusUnauthorized) {
			continue
		}
		if st != want && !(c.revoked && st == http.StatusForbidden) {
			t.Errorf("token %d (revocation acknowledged: %v) after the failover: %d, want %d", c.id, c.revoked, st, want)
		}
	}
	t.Logf("%d acknowledged creations, %d acknowledged revocations, %d revocations asked", len(acked), revoked, len(revokes))
}

package redisstore_test

import (
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// TestUnknownDigestReadsTheDecoy: the fused auth reads run the same Redis
// commands for an unknown digest as for a found token (the decoy read in
// its place), counted by the server (INFO commandstats counts the
// commands scripts run), so a miss is not answered sooner (issue 20,
// finding 6); and a database written before the decoy existed gets it
// when a store opens it.
func TestUnknownDigestReadsTheDecoy(t *testing.T) {
	srv := testenv.StartRedisProcess(t)
	ctx := t.Context()
	open := func(t *testing.T) *redisstore.Store {
		s, err := redisstore.New(ctx, redisstore.Options{URL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	s := open(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })

	u := tokens.User{Username: "alice"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{PathWithNamespace: "g/app", Visibility: tokens.Private}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	d := tokens.DeployToken{ProjectID: p.ID, Name: "ci", Scopes: []string{tokens.ScopeReadRegistry}, Digest: []byte("dt-digest")}
	if err := s.CreateDeployToken(ctx, &d); err != nil {
		t.Fatal(err)
	}
	pat := tokens.PersonalAccessToken{UserID: u.ID, Name: "laptop", Scopes: []string{tokens.ScopeAPI}, Digest: []byte("pat-digest")}
	if err := s.CreatePAT(ctx, &pat); err != nil {
		t.Fatal(err)
	}

	deployToken := func(digest string) func() bool {
		return func() bool {
			a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: []byte(digest), Username: "x", Addr: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			return a.Found
		}
	}
	personal := func(digest string) func() bool {
		return func() bool {
			a, err := s.PATForAuth(ctx, tokens.PATAuthQuery{Digest: []byte(digest), Addr: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			return a.Found
		}
	}
	// commands answers the calls of each command that read runs.
	commands := func(t *testing.T, read func() bool) (map[string]int64, bool) {
		t.Helper()
		read() // the first call on a server may load the script
		if err := c.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		found := read()
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		calls := map[string]int64{}
		for line := range strings.SplitSeq(info, "\n") {
			name, stats, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
			if !ok {
				continue
			}
			switch name {
			case "info", "config|resetstat",
				// A pooled connection opened meanwhile (the store's
				// replica watch runs beside the test) says hello.
				"hello", "client|setinfo", "ping", "select", "auth":
				continue
			}
			n, err := strconv.ParseInt(stats[:strings.IndexByte(stats, ',')], 10, 64)
			if err != nil {
				t.Fatalf("commandstats %q: %v", line, err)
			}
			calls[name] = n
		}
		return calls, found
	}

	tests := []struct {
		name        string
		found, miss func() bool
	}{
		{"deploy token", deployToken(string(d.Digest)), deployToken("unknown")},
		{"personal access token", personal(string(pat.Digest)), personal("unknown")},
	}
	check := func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hit, found := commands(t, tt.found)
				if !found {
					t.Fatal("the token was not found")
				}
				miss, found := commands(t, tt.miss)
				if found {
					t.Fatal("an unknown digest was found")
				}
				if !maps.Equal(hit, miss) {
					t.Errorf("an unknown digest ran %v, a found token %v", miss, hit)
				}
			})
		}
	}
	t.Run("new database", check)

	// A database from before the decoy: its keys deleted, then opened.
	if err := c.Del(ctx, decoyKeys(t, c)...).Err(); err != nil {
		t.Fatal(err)
	}
	if keys := decoyKeys(t, c); len(keys) != 0 {
		t.Fatalf("decoy keys %q left", keys)
	}
	s = open(t)
	if keys := decoyKeys(t, c); len(keys) != 4 {
		t.Fatalf("decoy keys %q after open, want 4", keys)
	}
	t.Run("old database", check)
}

func decoyKeys(t *testing.T, c *redis.Client) []string {
	t.Helper()
	keys, err := c.Keys(t.Context(), "*decoy:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

package redisstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/internal/testenv"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/redisstore"
)

// replyStrings is a redis.Hook that counts the elements (strings, and
// nils in place of an ID or a ban) in the last script reply the client
// read.
type replyStrings struct {
	mu sync.Mutex
	n  int
}

func (h *replyStrings) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *replyStrings) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if c, ok := cmd.(*redis.Cmd); ok && strings.HasPrefix(c.Name(), "eval") {
			h.mu.Lock()
			h.n = countStrings(c.Val())
			h.mu.Unlock()
		}
		return err
	}
}

func (h *replyStrings) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *replyStrings) last() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

func countStrings(v any) int {
	if v, ok := v.([]any); ok {
		n := 0
		for _, e := range v {
			n += countStrings(e)
		}
		return n
	}
	return 1
}

// TestAuthRepliesAreTheSameSize: the fused auth reads of both kinds answer
// as many elements, found or not (the records padded to one size), so
// that Redis sends, and the store reads, as much for a deploy token as
// for a personal access token: the kind of a refused secret does not
// show in its time (issue 20, finding 6). Counted, not timed.
func TestAuthRepliesAreTheSameSize(t *testing.T) {
	srv := testenv.StartRedisProcess(t)
	ctx := t.Context()
	hook := &replyStrings{}
	s, err := redisstore.New(ctx, redisstore.Options{URL: srv.URL(), Hooks: []redis.Hook{hook}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	u := tokens.User{Username: "alice"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	p := tokens.Project{Path: "app", Name: "app", PathWithNamespace: "group/app", Visibility: tokens.Private, CreatorID: u.ID}
	if err := s.CreateProject(ctx, &p, tokens.Member{UserID: u.ID, AccessLevel: tokens.Owner}); err != nil {
		t.Fatal(err)
	}
	d := tokens.DeployToken{ProjectID: p.ID, Name: "ci", Scopes: []string{tokens.ScopeReadRegistry}, CreatorID: u.ID, Digest: []byte("dt-digest")}
	if err := s.CreateDeployToken(ctx, &d); err != nil {
		t.Fatal(err)
	}
	pat := tokens.PersonalAccessToken{UserID: u.ID, Name: "laptop", Scopes: []string{tokens.ScopeAPI}, Digest: []byte("pat-digest")}
	if err := s.CreatePAT(ctx, &pat); err != nil {
		t.Fatal(err)
	}
	deployToken := func(digest string) func() (bool, error) {
		return func() (bool, error) {
			a, err := s.DeployTokenForAuth(ctx, tokens.DeployTokenQuery{Digest: []byte(digest), Username: "x", Addr: "192.0.2.1"})
			return a.Found, err
		}
	}
	personal := func(digest string) func() (bool, error) {
		return func() (bool, error) {
			a, err := s.PATForAuth(ctx, tokens.PATAuthQuery{Digest: []byte(digest), Addr: "192.0.2.1"})
			return a.Found, err
		}
	}
	tests := []struct {
		name  string
		read  func() (bool, error)
		found bool
	}{
		{"deploy token", deployToken(string(d.Digest)), true},
		{"unknown deploy token", deployToken("unknown"), false},
		{"personal access token", personal(string(pat.Digest)), true},
		{"unknown personal access token", personal("unknown"), false},
	}
	want := 0
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found, err := tt.read()
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.found {
				t.Fatalf("found %v, want %v", found, tt.found)
			}
			got := hook.last()
			if i == 0 {
				want = got
				t.Logf("%d elements", got)
				return
			}
			if got != want {
				t.Errorf("the reply held %d elements, want %d as for %s", got, want, tests[0].name)
			}
		})
	}
}

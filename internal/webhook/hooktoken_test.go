package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/webhook"
	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
)

type recv struct {
	mu    sync.Mutex
	got   map[string]int
	toks  []string
	delay time.Duration
}

func (r *recv) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	time.Sleep(r.delay)
	r.mu.Lock()
	r.got[req.Header.Get("X-Gitlab-Webhook-UUID")]++
	r.toks = append(r.toks, req.Header.Get("X-Gitlab-Token"))
	r.mu.Unlock()
}

func setup(t *testing.T) (*tokens.Service, *tokens.Actor) {
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var raw [32]byte
	rand.Read(raw[:])
	keys, _ := tokens.NewKeys([]byte(hex.EncodeToString(raw[:])))
	svc := &tokens.Service{Store: s, Keys: keys, AllowPrivateHooks: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	root := tokens.User{Username: "root", Name: "root", Admin: true, CreatedAt: time.Now()}
	if err := s.CreateUser(ctx, &root); err != nil {
		t.Fatal(err)
	}
	admin := &tokens.Actor{User: root, Scopes: []string{tokens.ScopeAPI}}
	if _, err := svc.CreateProject(ctx, admin, tokens.CreateProjectInput{Path: "app", NamespacePath: "tanuki"}); err != nil {
		t.Fatal(err)
	}
	return svc, admin
}

func ptr[T any](v T) *T { return &v }

// TestMovingAHookDropsItsToken: a maintainer who changes only a hook's
// URL does not receive the secret token someone set for the old one.
func TestMovingAHookDropsItsToken(t *testing.T) {
	ctx := context.Background()
	svc, admin := setup(t)
	legit := &recv{got: map[string]int{}}
	evil := &recv{got: map[string]int{}}
	l, e := httptest.NewServer(legit), httptest.NewServer(evil)
	defer l.Close()
	defer e.Close()
	h, err := svc.CreateHook(ctx, admin, "tanuki/app", "", tokens.HookInput{URL: ptr(l.URL), Token: ptr("s3cret-hook-token"), DeployTokenEvents: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateHook(ctx, admin, "tanuki/app", "", h.ID, tokens.HookInput{URL: ptr(e.URL)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.CreateDeployToken(ctx, admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "x", Scopes: []string{"read_registry"}}); err != nil {
		t.Fatal(err)
	}
	w := &webhook.Worker{Service: svc, Lease: time.Minute, Poll: time.Second, Backoff: time.Second, MaxBackoff: time.Hour, MaxAttempts: 3, AllowPrivate: true}
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if len(evil.toks) != 1 {
		t.Fatalf("the new URL got %d deliveries, want 1", len(evil.toks))
	}
	if evil.toks[0] == "s3cret-hook-token" {
		t.Errorf("the token set for %s was sent to the new URL %s", l.URL, e.URL)
	}
}

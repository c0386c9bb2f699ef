package webhook_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/internal/webhook"
	"github.com/deploytokens/deploytokens/tokens"
)

// TestNoDeliveryPastItsLease: a worker claims no more deliveries than it
// can send within their lease, so a slow receiver never lets another
// replica claim and send a delivery a second time.
func TestNoDeliveryPastItsLease(t *testing.T) {
	ctx := context.Background()
	svc, admin := setup(t)
	r := &recv{got: map[string]int{}, delay: 600 * time.Millisecond}
	srv := httptest.NewServer(r)
	defer srv.Close()
	for range 8 {
		if _, err := svc.CreateHook(ctx, admin, "tanuki/app", "", tokens.HookInput{URL: ptr(srv.URL), DeployTokenEvents: ptr(true)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := svc.CreateDeployToken(ctx, admin, "tanuki/app", tokens.CreateDeployTokenInput{Name: "x", Scopes: []string{"read_registry"}}); err != nil {
		t.Fatal(err)
	}
	mk := func() *webhook.Worker {
		return &webhook.Worker{Service: svc, Lease: 2 * time.Second, Poll: time.Second, Backoff: time.Minute, MaxBackoff: time.Hour, MaxAttempts: 3, AllowPrivate: true}
	}
	a, b := mk(), mk()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.RunOnce(ctx) }()
	time.Sleep(2500 * time.Millisecond)
	b.RunOnce(ctx) // the second replica's next poll
	wg.Wait()
	dup := 0
	for id, n := range r.got {
		if n > 1 {
			dup++
			t.Logf("%s delivered %d times", id, n)
		}
	}
	if dup > 0 {
		t.Errorf("%d of %d deliveries sent twice", dup, len(r.got))
	}
}

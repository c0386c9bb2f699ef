package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// testHooks checks webhooks' records and lists.
func testHooks(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	mk := func(pid, gid int64, url string) tokens.Hook {
		h := tokens.Hook{ProjectID: pid, GroupID: gid, URL: url, Token: []byte{1, 2, 3}, DeployTokenEvents: true, CreatedAt: when}
		if err := s.CreateHook(ctx, &h); err != nil || h.ID == 0 {
			t.Fatalf("CreateHook: %d, %v", h.ID, err)
		}
		return h
	}
	p1 := mk(1, 0, "https://a.example/1")
	p2 := mk(1, 0, "https://a.example/2")
	g := mk(0, 1, "https://a.example/g")
	urls := func(pid, gid int64) []string {
		hs, err := s.ListHooks(ctx, pid, gid)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, h.URL)
		}
		return out
	}
	if got := urls(1, 0); !slices.Equal(got, []string{p1.URL, p2.URL}) {
		t.Fatalf("project hooks %v", got)
	}
	if got := urls(0, 1); !slices.Equal(got, []string{g.URL}) {
		t.Fatalf("group hooks %v", got)
	}
	got, err := s.Hook(ctx, p1.ID)
	if err != nil || got.URL != p1.URL || !got.DeployTokenEvents || !got.CreatedAt.Equal(when) || string(got.Token) != "\x01\x02\x03" {
		t.Fatalf("Hook: %+v, %v", got, err)
	}
	got.URL = "https://b.example/"
	if err := s.UpdateHook(ctx, got); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Hook(ctx, p1.ID); h.URL != "https://b.example/" {
		t.Fatalf("updated hook reads %q", h.URL)
	}
	if err := s.UpdateHook(ctx, tokens.Hook{ID: 999}); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("UpdateHook(missing): %v", err)
	}
	if err := s.DeleteHook(ctx, p1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteHook(ctx, p1.ID); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("second DeleteHook: %v", err)
	}
	if _, err := s.Hook(ctx, p1.ID); !errors.Is(err, tokens.ErrNotFound) {
		t.Fatalf("deleted Hook: %v", err)
	}
	if got := urls(1, 0); !slices.Equal(got, []string{p2.URL}) {
		t.Fatalf("project hooks after delete %v", got)
	}
}

// testDeliveries checks the delivery queue: what AppendEvent enqueues is
// claimed once while leased, again after the lease, later after a retry,
// never after it is finished, and each by one of concurrent claimers.
func testDeliveries(t *testing.T, s tokens.Store) {
	ctx := t.Context()
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	lease := time.Minute
	e := tokens.AuditEvent{Name: tokens.EventDeployTokenCreated, ProjectID: 1, CreatedAt: now}
	ds := []tokens.Delivery{
		{HookID: 1, Event: tokens.DeployTokenHookEvent, Payload: []byte(`{"n":1}`), CreatedAt: now},
		{HookID: 2, Event: tokens.DeployTokenHookEvent, Payload: []byte(`{"n":2}`), CreatedAt: now},
	}
	if err := s.AppendEvent(ctx, &e, ds); err != nil {
		t.Fatal(err)
	}
	claim := func(at time.Time) []tokens.Delivery {
		t.Helper()
		got, err := s.ClaimDeliveries(ctx, at, lease, 10)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := claim(now.Add(-time.Second)); len(got) != 0 {
		t.Fatalf("claimed %d before they were due", len(got))
	}
	first := claim(now)
	if len(first) != 2 {
		t.Fatalf("claimed %d, want 2", len(first))
	}
	for _, d := range first {
		if d.ID == 0 || d.EventID != e.ID || d.Attempts != 1 || d.Event != tokens.DeployTokenHookEvent || (string(d.Payload) != `{"n":1}` && string(d.Payload) != `{"n":2}`) {
			t.Fatalf("claimed %+v", d)
		}
	}
	if got := claim(now.Add(lease - time.Second)); len(got) != 0 {
		t.Fatalf("claimed %d while leased", len(got))
	}
	again := claim(now.Add(lease))
	if len(again) != 2 || again[0].Attempts != 2 {
		t.Fatalf("after the lease: %+v", again)
	}
	a, b := again[0], again[1]
	if err := s.FinishDelivery(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryDelivery(ctx, b.ID, now.Add(time.Hour), "500 Internal Server Error"); err != nil {
		t.Fatal(err)
	}
	if got := claim(now.Add(time.Hour - time.Second)); len(got) != 0 {
		t.Fatalf("claimed %+v before the retry was due", got)
	}
	got := claim(now.Add(time.Hour))
	if len(got) != 1 || got[0].ID != b.ID || got[0].Attempts != 3 {
		t.Fatalf("retry claimed %+v", got)
	}
	if err := s.FinishDelivery(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if got := claim(now.Add(24 * time.Hour)); len(got) != 0 {
		t.Fatalf("finished deliveries claimed again: %+v", got)
	}

	t.Run("concurrent claims", func(t *testing.T) {
		const n = 20
		many := make([]tokens.Delivery, n)
		for i := range many {
			many[i] = tokens.Delivery{HookID: int64(i + 1), Event: tokens.DeployTokenHookEvent, Payload: []byte(`{}`), CreatedAt: now}
		}
		e := tokens.AuditEvent{Name: tokens.EventDeployTokenRevoked, CreatedAt: now}
		if err := s.AppendEvent(ctx, &e, many); err != nil {
			t.Fatal(err)
		}
		var (
			mu   sync.Mutex
			seen = map[int64]int{}
			wg   sync.WaitGroup
		)
		for range 8 {
			wg.Go(func() {
				for {
					got, err := s.ClaimDeliveries(ctx, now.Add(48*time.Hour), lease, 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, d := range got {
						seen[d.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d deliveries, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Fatalf("delivery %d claimed %d times", id, c)
			}
		}
	})
}
